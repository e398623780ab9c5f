import { LibvirtXmlError } from "./errors.js";

/**
 * Safe, lossless XML for every reader in this package: a small strict XML 1.0 parser that builds
 * an ordered tree (elements, attributes in order, text, comments, CDATA, processing instructions).
 * It was first built on fast-xml-parser (preserveOrder + its validator); reading 10,000 domains
 * took ~4x the 2 s budget, most of it in the library's two passes, so parsing is done here in one
 * pass. It
 *   - refuses any DOCTYPE or ENTITY declaration, so no entity is ever defined, expanded or fetched;
 *   - decodes only the five predefined entities and numeric character references;
 *   - bounds the document size, nesting depth, node count and attribute/text lengths;
 *   - rejects what is not well-formed (unclosed or mismatched tags, duplicate attributes, bare
 *     `&` or `<`, control characters, text outside the root).
 */

export interface XmlElement {
  type: "element";
  /** Qualified name as written, prefix included (`qemu:commandline`). */
  name: string;
  /** Attributes in document order, namespace declarations included. */
  attributes: Map<string, string>;
  children: XmlNode[];
}
export interface XmlText {
  type: "text";
  value: string;
}
export interface XmlComment {
  type: "comment";
  value: string;
}
export interface XmlCData {
  type: "cdata";
  value: string;
}
/** A processing instruction; the XML declaration is one named `xml`. `data` is everything after the name. */
export interface XmlProcessingInstruction {
  type: "pi";
  name: string;
  data: string;
}
export type XmlNode = XmlElement | XmlText | XmlComment | XmlCData | XmlProcessingInstruction;

export interface XmlDocument {
  /** Top-level nodes in order: declaration, comments, the root element. */
  children: XmlNode[];
  root: XmlElement;
}

export interface XmlLimits {
  /** Largest document accepted, in UTF-16 code units of the text (default 16 MiB). */
  maxLength?: number;
  /** Deepest element nesting (default 128). */
  maxDepth?: number;
  /** Most nodes of any kind (default 500,000). */
  maxNodes?: number;
  /** Longest attribute value (default 64 KiB). */
  maxAttributeLength?: number;
  /** Most attributes on one element (default 256). */
  maxAttributes?: number;
  /** Longest single text, comment or CDATA node (default 4 MiB). */
  maxTextLength?: number;
}

const defaults: Required<XmlLimits> = {
  maxLength: 16 * 1024 * 1024,
  maxDepth: 128,
  maxNodes: 500_000,
  maxAttributeLength: 64 * 1024,
  maxAttributes: 256,
  maxTextLength: 4 * 1024 * 1024,
};

// eslint-disable-next-line no-control-regex
const illegalChars = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;
/** XML names, loosely: a start character, then name characters; non-ASCII letters are allowed. */
const namePattern = /[A-Za-z_:\u00c0-\uffff][\w.:\u00b7\u00c0-\uffff-]*/y;

/** Parses `text` into an ordered tree. Throws LibvirtXmlError (MALFORMED, ENTITY, TOO_LARGE). */
export function parseXml(text: string, limits: XmlLimits = {}): XmlDocument {
  const lim = { ...defaults, ...limits };
  if (text.length > lim.maxLength) {
    throw new LibvirtXmlError(
      "LIBVIRT_XML_TOO_LARGE",
      `XML document is ${text.length} characters, more than the ${lim.maxLength} allowed; check that this is really VM metadata.`,
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // XML normalizes every line ending to \n before anything else.
  if (text.includes("\r")) text = text.replace(/\r\n?/g, "\n");
  const bad = illegalChars.exec(text);
  if (bad) fail(text, bad.index, `control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, "0")} is not allowed in XML`);
  return new Parser(text, lim).parse();
}

function fail(text: string, at: number, message: string): never {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < at; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `XML is not well-formed (line ${line}, column ${at - lineStart + 1}): ${message}.`);
}

class Parser {
  private pos = 0;
  private nodes = 0;
  constructor(
    private readonly s: string,
    private readonly lim: Required<XmlLimits>,
  ) {}

  parse(): XmlDocument {
    const { s } = this;
    const top: XmlNode[] = [];
    const stack: XmlElement[] = [];
    let root: XmlElement | undefined;
    const add = (node: XmlNode) => {
      if (++this.nodes > this.lim.maxNodes) {
        throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML has more than ${this.lim.maxNodes} nodes; check that this is really VM metadata.`);
      }
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(node);
      else top.push(node);
    };

    while (this.pos < s.length) {
      const lt = s.indexOf("<", this.pos);
      const end = lt === -1 ? s.length : lt;
      if (end > this.pos) {
        const raw = s.slice(this.pos, end);
        if (stack.length > 0) add({ type: "text", value: this.decode(raw, this.pos, this.lim.maxTextLength) });
        else if (raw.trim() !== "") fail(s, this.pos, "text outside the root element");
        this.pos = end;
      }
      if (lt === -1) break;
      const next = s.charCodeAt(lt + 1);
      if (next === 0x21 /* ! */) {
        if (s.startsWith("<!--", lt)) {
          const close = s.indexOf("-->", lt + 4);
          if (close === -1) fail(s, lt, "comment is never closed");
          add({ type: "comment", value: this.bounded(s.slice(lt + 4, close)) });
          this.pos = close + 3;
        } else if (s.startsWith("<![CDATA[", lt)) {
          if (stack.length === 0) fail(s, lt, "CDATA outside the root element");
          const close = s.indexOf("]]>", lt + 9);
          if (close === -1) fail(s, lt, "CDATA section is never closed");
          add({ type: "cdata", value: this.bounded(s.slice(lt + 9, close)) });
          this.pos = close + 3;
        } else if (/^<!(DOCTYPE|ENTITY)/i.test(s.slice(lt, lt + 9))) {
          throw new LibvirtXmlError(
            "LIBVIRT_XML_ENTITY",
            "XML contains a DOCTYPE or ENTITY declaration; entities are never expanded or fetched. Remove the declaration and retry.",
          );
        } else {
          fail(s, lt, "unknown markup declaration");
        }
      } else if (next === 0x3f /* ? */) {
        const close = s.indexOf("?>", lt + 2);
        if (close === -1) fail(s, lt, "processing instruction is never closed");
        namePattern.lastIndex = lt + 2;
        const m = namePattern.exec(s);
        if (!m) fail(s, lt, "processing instruction without a target name");
        const name = m[0];
        if (name.toLowerCase() === "xml" && lt !== 0) fail(s, lt, "the XML declaration must come first");
        const data = s.slice(lt + 2 + name.length, close);
        if (data !== "" && !/^\s/.test(data)) fail(s, lt, "processing instruction target must be followed by a space");
        add({ type: "pi", name, data: data.trim() });
        this.pos = close + 2;
      } else if (next === 0x2f /* / */) {
        namePattern.lastIndex = lt + 2;
        const m = namePattern.exec(s);
        const open = stack.pop();
        if (!m || !open) fail(s, lt, "closing tag without an open element");
        if (m[0] !== open.name) fail(s, lt, `expected </${open.name}> but found </${m[0].slice(0, 64)}>`);
        let i = lt + 2 + m[0].length;
        while (isSpace(s.charCodeAt(i))) i++;
        if (s.charCodeAt(i) !== 0x3e) fail(s, i, `'>' expected to close </${open.name}>`);
        this.pos = i + 1;
      } else {
        if (stack.length === 0 && root) fail(s, lt, "a second root element");
        const el = this.startTag(lt);
        add(el);
        if (!root && stack.length === 0) root = el;
        if (this.selfClosed) continue;
        if (stack.length >= this.lim.maxDepth) {
          throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML elements are nested deeper than ${this.lim.maxDepth} levels; VM metadata never is.`);
        }
        stack.push(el);
      }
    }
    const open = stack[stack.length - 1];
    if (open) fail(s, s.length, `<${open.name}> is never closed`);
    if (!root) fail(s, s.length, "there is no root element");
    return { children: top.filter((n) => n.type !== "text"), root };
  }

  private selfClosed = false;

  /** Reads `<name attr='v' …>` or `…/>` starting at `lt`. */
  private startTag(lt: number): XmlElement {
    const { s } = this;
    namePattern.lastIndex = lt + 1;
    const m = namePattern.exec(s);
    if (!m) fail(s, lt, "'<' that starts no element (write it as &lt;)");
    const name = m[0];
    const attributes = new Map<string, string>();
    let i = lt + 1 + name.length;
    for (;;) {
      const before = i;
      while (isSpace(s.charCodeAt(i))) i++;
      const c = s.charCodeAt(i);
      if (c === 0x3e /* > */) {
        this.selfClosed = false;
        this.pos = i + 1;
        break;
      }
      if (c === 0x2f /* / */ && s.charCodeAt(i + 1) === 0x3e) {
        this.selfClosed = true;
        this.pos = i + 2;
        break;
      }
      if (Number.isNaN(c)) fail(s, lt, `<${name}> is never closed`);
      if (i === before) fail(s, i, `space expected between attributes of <${name}>`);
      namePattern.lastIndex = i;
      const a = namePattern.exec(s);
      if (!a) fail(s, i, `bad attribute name in <${name}>`);
      i += a[0].length;
      while (isSpace(s.charCodeAt(i))) i++;
      if (s.charCodeAt(i) !== 0x3d /* = */) fail(s, i, `'=' expected after attribute ${a[0]}`);
      i++;
      while (isSpace(s.charCodeAt(i))) i++;
      const quote = s[i];
      if (quote !== '"' && quote !== "'") fail(s, i, `attribute ${a[0]} value must be quoted`);
      const close = s.indexOf(quote, i + 1);
      if (close === -1) fail(s, i, `attribute ${a[0]} value is never closed`);
      if (close - i - 1 > this.lim.maxAttributeLength) {
        throw new LibvirtXmlError(
          "LIBVIRT_XML_TOO_LARGE",
          `XML attribute '${a[0].slice(0, 64)}' is ${close - i - 1} characters long, more than the ${this.lim.maxAttributeLength} allowed.`,
        );
      }
      let raw = s.slice(i + 1, close);
      if (raw.includes("<")) fail(s, i, `'<' inside the value of attribute ${a[0]}`);
      // Attribute-value normalization: literal tabs and newlines read as spaces.
      if (/[\t\n]/.test(raw)) raw = raw.replace(/[\t\n]/g, " ");
      if (attributes.has(a[0])) fail(s, i, `attribute ${a[0]} is repeated in <${name}>`);
      if (attributes.size >= this.lim.maxAttributes) {
        throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML element <${name.slice(0, 64)}> has more than ${this.lim.maxAttributes} attributes; VM metadata never does.`);
      }
      attributes.set(a[0], this.decode(raw, i + 1, this.lim.maxAttributeLength));
      i = close + 1;
    }
    return { type: "element", name, attributes, children: [] };
  }

  private bounded(text: string): string {
    if (text.length > this.lim.maxTextLength) {
      throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML text node is ${text.length} characters long, more than the ${this.lim.maxTextLength} allowed.`);
    }
    return text;
  }

  /** Decodes the predefined entities and character references; any other entity is an error. */
  private decode(raw: string, at: number, max: number): string {
    if (raw.length > max) {
      throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML text node is ${raw.length} characters long, more than the ${max} allowed.`);
    }
    if (!raw.includes("&")) return raw;
    return raw.replace(/&([^;&\s<]{0,16});?/g, (whole, ref: string) => {
      if (!whole.endsWith(";")) fail(this.s, at, `bare '&' (near '${whole.slice(0, 20)}'); write it as &amp;`);
      const named = predefined[ref];
      if (named !== undefined) return named;
      const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
      if (m) {
        const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2] ?? "", 10);
        if (isXmlChar(code)) return String.fromCodePoint(code);
        fail(this.s, at, `character reference &${ref}; is not a legal XML character`);
      }
      throw new LibvirtXmlError(
        "LIBVIRT_XML_ENTITY",
        `XML uses the undeclared entity &${ref.slice(0, 16)};; only &amp; &lt; &gt; &quot; &apos; and character references are accepted.`,
      );
    });
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

const predefined: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function isXmlChar(c: number): boolean {
  return c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

// ---------------------------------------------------------------- serialization

/** Writes the tree back as XML text. Parse → serialize gives an equivalent document. */
export function serializeXml(doc: XmlDocument): string {
  const parts: string[] = [];
  for (const node of doc.children) {
    writeNode(node, parts);
    parts.push("\n");
  }
  return parts.join("");
}

export function serializeElement(el: XmlElement): string {
  const parts: string[] = [];
  writeNode(el, parts);
  return parts.join("");
}

function writeNode(node: XmlNode, parts: string[]): void {
  switch (node.type) {
    case "text":
      parts.push(escapeText(node.value));
      return;
    case "comment":
      parts.push(`<!--${node.value}-->`);
      return;
    case "cdata":
      parts.push(`<![CDATA[${node.value}]]>`);
      return;
    case "pi":
      parts.push(`<?${node.name}${node.data === "" ? "" : ` ${node.data}`}?>`);
      return;
    case "element": {
      parts.push(`<${node.name}${writeAttributes(node.attributes, "'")}`);
      if (node.children.length === 0) {
        parts.push("/>");
        return;
      }
      parts.push(">");
      for (const child of node.children) writeNode(child, parts);
      parts.push(`</${node.name}>`);
    }
  }
}

function writeAttributes(attributes: Map<string, string>, quote: "'" | '"'): string {
  let s = "";
  for (const [name, value] of attributes) s += ` ${name}=${quote}${escapeAttribute(value)}${quote}`;
  return s;
}

export function escapeText(s: string): string {
  return /[&<>\r]/.test(s) ? s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\r/g, "&#13;") : s;
}

export function escapeAttribute(s: string): string {
  return /[&<>'"\t\n\r]/.test(s)
    ? s
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/'/g, "&apos;")
        .replace(/"/g, "&quot;")
        .replace(/\t/g, "&#9;")
        .replace(/\n/g, "&#10;")
        .replace(/\r/g, "&#13;")
    : s;
}

// ---------------------------------------------------------------- navigation

/** `qemu:commandline` → `commandline`: readers match by local name, whatever prefix a writer chose. */
export function localName(name: string): string {
  const colon = name.indexOf(":");
  return colon === -1 ? name : name.slice(colon + 1);
}

/** Child elements, all or those with the given local name. */
export function childElements(el: XmlElement, local?: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of el.children) if (c.type === "element" && (local === undefined || localName(c.name) === local)) out.push(c);
  return out;
}

/** First child element with the given local name. */
export function firstChild(el: XmlElement | undefined, local: string): XmlElement | undefined {
  if (!el) return undefined;
  for (const c of el.children) if (c.type === "element" && localName(c.name) === local) return c;
  return undefined;
}

/** Follows a path of local names (`os`, `loader`) from `el`, first match at each step. */
export function findPath(el: XmlElement | undefined, ...path: string[]): XmlElement | undefined {
  let cur = el;
  for (const step of path) cur = firstChild(cur, step);
  return cur;
}

/** Attribute by local name (so `ovf:id` is found as `id`), exact name first. */
export function attr(el: XmlElement | undefined, local: string): string | undefined {
  if (!el) return undefined;
  const exact = el.attributes.get(local);
  if (exact !== undefined) return exact;
  for (const [name, value] of el.attributes) if (localName(name) === local && !name.startsWith("xmlns")) return value;
  return undefined;
}

/** The concatenated text and CDATA directly inside `el`, trimmed. */
export function textOf(el: XmlElement | undefined): string | undefined {
  if (!el) return undefined;
  let s = "";
  for (const c of el.children) if (c.type === "text" || c.type === "cdata") s += c.value;
  return s.trim();
}

/** Builds an element (for writers). Attributes whose value is undefined are left out. */
export function element(name: string, attributes: Record<string, string | number | undefined> = {}, children: (XmlNode | string)[] = []): XmlElement {
  const attrs = new Map<string, string>();
  for (const [k, v] of Object.entries(attributes)) if (v !== undefined) attrs.set(k, String(v));
  return {
    type: "element",
    name,
    attributes: attrs,
    children: children.map((c) => (typeof c === "string" ? { type: "text", value: c } : c)),
  };
}

/**
 * Writes a freshly built element tree indented by two spaces, the way libvirt prints XML.
 * Elements holding text stay on one line; whitespace-only text from the tree is ignored.
 */
export function formatXml(root: XmlElement, declaration = false): string {
  const parts: string[] = declaration ? ['<?xml version="1.0" encoding="UTF-8"?>\n'] : [];
  formatElement(root, "", parts);
  return parts.join("");
}

function formatElement(el: XmlElement, indent: string, parts: string[]): void {
  const children = el.children.filter((c) => c.type !== "text" || c.value.trim() !== "");
  parts.push(`${indent}<${el.name}${writeAttributes(el.attributes, "'")}`);
  if (children.length === 0) {
    parts.push("/>\n");
    return;
  }
  if (children.some((c) => c.type === "text" || c.type === "cdata")) {
    parts.push(">");
    for (const c of children) writeNode(c, parts);
    parts.push(`</${el.name}>\n`);
    return;
  }
  parts.push(">\n");
  for (const c of children) {
    if (c.type === "element") formatElement(c, indent + "  ", parts);
    else {
      parts.push(indent + "  ");
      writeNode(c, parts);
      parts.push("\n");
    }
  }
  parts.push(`${indent}</${el.name}>\n`);
}

/** True when `s` holds only characters XML 1.0 can carry (no control characters, no lone surrogates). */
export function isXmlSafe(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}
