import { describe, expect, it } from "vitest";
import { LibvirtXmlError } from "./errors.js";
import { attr, childElements, firstChild, parseXml, serializeXml, textOf } from "./xml.js";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LibvirtXmlError);
    return (err as LibvirtXmlError).code;
  }
  return "no error";
}

/** Each bad input must fail with its typed error quickly, whatever it would cost a naive parser. */
function rejectsFast(text: string, code: string, limits = {}): void {
  const start = performance.now();
  expect(codeOf(() => parseXml(text, limits))).toBe(code);
  expect(performance.now() - start).toBeLessThan(1000);
}

describe("parseXml: hostile input", () => {
  it("billion laughs is refused, never expanded", () => {
    const lol = ['<?xml version="1.0"?>', "<!DOCTYPE lolz [", ' <!ENTITY lol "lol">'];
    for (let i = 1; i < 10; i++) lol.push(` <!ENTITY lol${i} "${`&lol${i === 1 ? "" : i - 1};`.repeat(10)}">`);
    lol.push("]>", "<domain><name>&lol9;</name></domain>");
    rejectsFast(lol.join("\n"), "LIBVIRT_XML_ENTITY");
  });

  it("external entities are refused, never fetched", () => {
    rejectsFast(`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><domain><name>&xxe;</name></domain>`, "LIBVIRT_XML_ENTITY");
    rejectsFast(`<!DOCTYPE domain SYSTEM "http://127.0.0.1:1/domain.dtd"><domain/>`, "LIBVIRT_XML_ENTITY");
    // An undeclared entity reference is refused too (there is nowhere it could come from).
    rejectsFast(`<domain><name>&xxe;</name></domain>`, "LIBVIRT_XML_ENTITY");
  });

  it("a DOCTYPE inside a comment or CDATA is just text", () => {
    const doc = parseXml(`<!-- <!DOCTYPE x> --><a><![CDATA[<!ENTITY y "z">]]></a>`);
    expect(textOf(doc.root)).toBe('<!ENTITY y "z">');
  });

  it("malformed XML", () => {
    rejectsFast("<domain><name>x</domain>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<domain a='1' a='2'/>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a/><b/>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a>fish & chips</a>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a>&#0;</a>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("\u0000\u0001binary junk", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a b='1'c='2'/>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a b=1/>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a b='<'/>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("text<a/>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a/>trailing", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a><![CDATA[x</a>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a><!-- x</a>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a>< b/></a>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a></b>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a/><?xml version='1.0'?>", "LIBVIRT_XML_MALFORMED");
    rejectsFast("<a><!ELEMENT a ANY></a>", "LIBVIRT_XML_MALFORMED");
  });

  it("size limits: document, attribute, depth, node count", () => {
    rejectsFast(`<a>${"x".repeat(2000)}</a>`, "LIBVIRT_XML_TOO_LARGE", { maxLength: 1000 });
    rejectsFast(`<a b='${"x".repeat(1_000_000)}'/>`, "LIBVIRT_XML_TOO_LARGE");
    rejectsFast("<a>".repeat(100_000) + "</a>".repeat(100_000), "LIBVIRT_XML_TOO_LARGE");
    rejectsFast(`<a>${"<b/>".repeat(2000)}</a>`, "LIBVIRT_XML_TOO_LARGE", { maxNodes: 1000 });
    rejectsFast(`<a ${Array.from({ length: 100_000 }, (_, i) => `a${i}=''`).join(" ")}/>`, "LIBVIRT_XML_TOO_LARGE");
  });
});

describe("parseXml: lossless tree", () => {
  it("decodes predefined entities and character references, and writes them back", () => {
    const doc = parseXml(`<a x="&lt;&#65;&#x42;&quot;&apos;">&amp;&gt;&#x1F600;</a>`);
    expect(attr(doc.root, "x")).toBe(`<AB"'`);
    expect(textOf(doc.root)).toBe("&>\u{1F600}");
    expect(parseXml(serializeXml(doc)).root).toEqual(doc.root);
  });

  it("keeps processing instructions and normalizes line ends and attribute whitespace as XML says", () => {
    const doc = parseXml(`<?xml version="1.0" encoding="UTF-8"?>\r\n<?xml-stylesheet href="a.xsl"?>\r\n<a b="x\ty\nz" c="&#10;">l1\r\nl2<?pi some data?></a>`);
    expect(doc.children.map((n) => (n.type === "pi" ? `${n.name}|${n.data}` : n.type))).toEqual([
      'xml|version="1.0" encoding="UTF-8"',
      'xml-stylesheet|href="a.xsl"',
      "element",
    ]);
    expect(attr(doc.root, "b")).toBe("x y z");
    expect(attr(doc.root, "c")).toBe("\n");
    expect(textOf(doc.root)).toBe("l1\nl2");
    expect(serializeXml(doc)).toBe(`<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet href="a.xsl"?>\n<a b='x y z' c='&#10;'>l1\nl2<?pi some data?></a>\n`);
  });

  it("finds children and attributes by local name, ignoring prefixes", () => {
    const doc = parseXml(`<ovf:Envelope xmlns:ovf="urn:ovf"><ovf:Disk ovf:capacity="8" /><Other/><ovf:Disk ovf:capacity="9"/></ovf:Envelope>`);
    expect(childElements(doc.root, "Disk").map((d) => attr(d, "capacity"))).toEqual(["8", "9"]);
    expect(firstChild(doc.root, "Other")?.name).toBe("Other");
    expect(attr(doc.root, "ovf")).toBeUndefined();
  });
});
