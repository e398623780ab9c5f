import { XMLParser, XMLValidator } from "fast-xml-parser";
import { LibvirtXmlError } from "./errors.js";

/**
 * Safe, lossless XML for every reader in this package. fast-xml-parser does the parsing
 * (`preserveOrder`, so element order, comments and CDATA survive); around it we:
 *   - refuse any DOCTYPE or ENTITY declaration, so no entity is ever defined, expanded or fetched;
 *   - decode only the five predefined entities and numeric character references ourselves;
 *   - bound the document size, nesting depth, node count and attribute/text lengths.
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
/** A processing instruction; the XML declaration is one named `xml`. Only pseudo-attributes are kept. */
export interface XmlProcessingInstruction {
  type: "pi";
  name: string;
  attributes: Map<string, string>;
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
  /** Longest single text, comment or CDATA node (default 4 MiB). */
  maxTextLength?: number;
}

const defaults: Required<XmlLimits> = {
  maxLength: 16 * 1024 * 1024,
  maxDepth: 128,
  maxNodes: 500_000,
  maxAttributeLength: 64 * 1024,
  maxTextLength: 4 * 1024 * 1024,
};

const ATTRS = ":@";

function makeParser(maxDepth: number): XMLParser {
  return new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: "",
    commentPropName: "#comment",
    cdataPropName: "#cdata",
    trimValues: false,
    parseTagValue: false,
    parseAttributeValue: false,
    processEntities: false,
    htmlEntities: false,
    ignoreDeclaration: false,
    ignorePiTags: false,
    removeNSPrefix: false,
    allowBooleanAttributes: false,
    maxNestedTags: maxDepth,
  });
}
const parsers = new Map<number, XMLParser>();

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
  rejectDeclarations(text);
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `XML is not well-formed (line ${valid.err.line}, column ${valid.err.col}): ${valid.err.msg}`);
  }
  let parser = parsers.get(lim.maxDepth);
  if (!parser) {
    parser = makeParser(lim.maxDepth);
    parsers.set(lim.maxDepth, parser);
  }
  let raw: unknown;
  try {
    raw = parser.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/nested/i.test(message)) {
      throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML elements are nested deeper than ${lim.maxDepth} levels; VM metadata never is.`, { cause: err });
    }
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `XML is not well-formed: ${message}`, { cause: err });
  }
  const counter = { nodes: 0 };
  // Outside the root only whitespace can be text, and the parser keeps it unevenly: drop it all.
  const children = convertList(raw, 0, lim, counter).filter((n) => n.type !== "text");
  const roots = children.filter((n): n is XmlElement => n.type === "element");
  const root = roots[0];
  if (!root || roots.length !== 1) {
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `XML must have exactly one root element, found ${roots.length}.`);
  }
  return { children, root };
}

/**
 * DOCTYPE and ENTITY declarations are the door to entity expansion ("billion laughs") and external
 * entities. VM metadata never needs them, so any outside comments and CDATA is refused outright.
 */
function rejectDeclarations(text: string): void {
  let i = text.indexOf("<!");
  while (i !== -1) {
    if (text.startsWith("<!--", i)) {
      const end = text.indexOf("-->", i + 4);
      if (end === -1) return; // unterminated comment: the validator reports it
      i = text.indexOf("<!", end + 3);
    } else if (text.startsWith("<![CDATA[", i)) {
      const end = text.indexOf("]]>", i + 9);
      if (end === -1) return;
      i = text.indexOf("<!", end + 3);
    } else {
      const word = text.slice(i + 2, i + 9).toUpperCase();
      if (word.startsWith("DOCTYPE") || word.startsWith("ENTITY")) {
        throw new LibvirtXmlError(
          "LIBVIRT_XML_ENTITY",
          "XML contains a DOCTYPE or ENTITY declaration; entities are never expanded or fetched. Remove the declaration and retry.",
        );
      }
      i = text.indexOf("<!", i + 2);
    }
  }
}

type Counter = { nodes: number };

function convertList(raw: unknown, depth: number, lim: Required<XmlLimits>, counter: Counter): XmlNode[] {
  if (!Array.isArray(raw)) return [];
  const out: XmlNode[] = [];
  for (const item of raw as Record<string, unknown>[]) {
    if (++counter.nodes > lim.maxNodes) {
      throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML has more than ${lim.maxNodes} nodes; check that this is really VM metadata.`);
    }
    const node = convertNode(item, depth, lim, counter);
    if (node) out.push(node);
  }
  return out;
}

function convertNode(item: Record<string, unknown>, depth: number, lim: Required<XmlLimits>, counter: Counter): XmlNode | undefined {
  let key: string | undefined;
  for (const k of Object.keys(item)) {
    if (k !== ATTRS) {
      key = k;
      break;
    }
  }
  if (key === undefined) return undefined;
  const value = item[key];
  if (key === "#text") return { type: "text", value: decodeText(String(value), lim.maxTextLength) };
  if (key === "#comment") return { type: "comment", value: checkLength(innerText(value), lim.maxTextLength) };
  if (key === "#cdata") return { type: "cdata", value: checkLength(innerText(value), lim.maxTextLength) };
  const attributes = convertAttributes(item[ATTRS], lim);
  if (key.startsWith("?")) return { type: "pi", name: key.slice(1), attributes };
  if (depth >= lim.maxDepth) {
    throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML elements are nested deeper than ${lim.maxDepth} levels; VM metadata never is.`);
  }
  return { type: "element", name: key, attributes, children: convertList(value, depth + 1, lim, counter) };
}

function innerText(value: unknown): string {
  if (!Array.isArray(value)) return "";
  let s = "";
  for (const part of value as Record<string, unknown>[]) s += String(part["#text"] ?? "");
  return s;
}

function convertAttributes(raw: unknown, lim: Required<XmlLimits>): Map<string, string> {
  const attributes = new Map<string, string>();
  if (raw === null || typeof raw !== "object") return attributes;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const text = String(value);
    if (text.length > lim.maxAttributeLength) {
      throw new LibvirtXmlError(
        "LIBVIRT_XML_TOO_LARGE",
        `XML attribute '${name.slice(0, 64)}' is ${text.length} characters long, more than the ${lim.maxAttributeLength} allowed.`,
      );
    }
    attributes.set(name, decodeText(text, lim.maxAttributeLength));
  }
  return attributes;
}

function checkLength(text: string, max: number): string {
  if (text.length > max) {
    throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `XML text node is ${text.length} characters long, more than the ${max} allowed.`);
  }
  return text;
}

const predefined: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes the predefined entities and character references; any other entity is an error. */
function decodeText(text: string, max: number): string {
  checkLength(text, max);
  if (!text.includes("&")) return text;
  return text.replace(/&([^;&\s]{0,16});?/g, (whole, ref: string) => {
    if (!whole.endsWith(";")) {
      throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `XML has a bare '&' (near '${whole.slice(0, 20)}'); write it as &amp;.`);
    }
    const named = predefined[ref];
    if (named !== undefined) return named;
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
    if (m) {
      const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2] ?? "", 10);
      if (isXmlChar(code)) return String.fromCodePoint(code);
      throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `XML character reference &${ref}; is not a legal XML character.`);
    }
    throw new LibvirtXmlError(
      "LIBVIRT_XML_ENTITY",
      `XML uses the undeclared entity &${ref.slice(0, 16)};; only &amp; &lt; &gt; &quot; &apos; and character references are accepted.`,
    );
  });
}

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
      parts.push(`<?${node.name}${writeAttributes(node.attributes, '"')}?>`);
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
