// Hashes made by glibc's crypt(3) (through python3's crypt module), one per code path: the
// default rounds, explicit rounds with a salt cut to 16 characters, passwords longer than a
// digest, the empty password, MD5 crypt. crypt.int.test.ts checks fresh random ones the same way.
import { describe, expect, it } from "vitest";
import { md5Crypt, randomSalt, sha512Crypt } from "./crypt.js";

describe("sha512Crypt", () => {
  it("matches glibc", () => {
    expect(sha512Crypt("Hello world!", "saltstring")).toBe("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1");
    expect(sha512Crypt("Hello world!", "saltstringsaltstring", 10000)).toBe("$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.");
    expect(sha512Crypt("a".repeat(200), "x")).toBe("$6$x$O7igG6oA24wqdGY.fWyF5whCajEwFcrCMyOnVF5Afn1yQ33U9zQNZLxd.3FhRJ7SaqLK7jWL8sjUXPqB04sZm1");
    expect(sha512Crypt("", "abc")).toBe("$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD.");
  });
  it("makes a fresh 16-character salt each time", () => {
    const a = sha512Crypt("pw");
    const b = sha512Crypt("pw");
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(a).not.toBe(b);
    expect(randomSalt(24)).toMatch(/^[./0-9A-Za-z]{24}$/);
  });
  it("refuses rounds glibc would clamp", () => {
    expect(() => sha512Crypt("x", "s", 10)).toThrow(RangeError);
  });
});

describe("md5Crypt", () => {
  it("matches glibc", () => {
    expect(md5Crypt("password", "saltsalt")).toBe("$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/");
    expect(md5Crypt("", "ab")).toBe("$1$ab$rn6aQS/o7141mj179E/zA.");
    expect(md5Crypt("héllo wörld, a password longer than sixteen", "12345678")).toBe("$1$12345678$9KEiN7ftan9VweKmozome1");
  });
});
