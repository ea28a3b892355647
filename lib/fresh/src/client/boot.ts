// The browser boot module: reads the island state, loads each island's chunk
// and renders it over the server HTML between its marker comments.

import { type ComponentChildren, h, render, type VNode } from "preact";
import { setBuildId } from "../asset.ts";
import { deserialize, type SignalFactory } from "../serialize.ts";

type IslandMap = Record<string, [url: string, exportName: string]>;

const MARKER = /^frsh-(?!slot-)([^:]+):(\d+):(.*)$/;

export async function boot(
  stateId: string,
  islands: IslandMap,
  buildId: string,
): Promise<void> {
  setBuildId(buildId);
  const text = document.getElementById(stateId)?.textContent ??
    '{"v":[],"s":[]}';
  // The signals runtime comes only with a page whose props hold signals
  // (islands that use signals import it themselves): most pages skip it.
  let signal: SignalFactory | undefined;
  if ((JSON.parse(text) as { s?: unknown[] }).s?.length) {
    signal = (await import("@preact/signals")).signal;
  }
  const props = deserialize(text, signal) as Record<string, unknown>[];
  const modules = new Map<string, Promise<Record<string, unknown>>>();
  const load = (url: string) => {
    if (!modules.has(url)) modules.set(url, import(url));
    return modules.get(url)!;
  };
  for (const [url] of Object.values(islands)) load(url);

  // Revive islands in document order. Rendering an island may replace the
  // nodes of its server children, so the DOM is searched again each time.
  const done = new Set<string>();
  for (;;) {
    const start = nextMarker(done);
    if (!start) break;
    const m = start.data.match(MARKER)!;
    done.add(start.data);
    const island = islands[m[1]];
    if (!island) continue;
    const mod = await load(island[0]);
    const component = mod[island[1]] as (p: unknown) => VNode;
    reviveIsland(start, component, { ...props[Number(m[2])] });
  }
}

function nextMarker(done: Set<string>): Comment | undefined {
  const walker = document.createTreeWalker(
    document.body,
    NodeFilter.SHOW_COMMENT,
  );
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const c = n as Comment;
    if (MARKER.test(c.data) && !done.has(c.data)) return c;
  }
  return undefined;
}

function between(start: Comment): { nodes: Node[]; end: Comment } {
  const nodes: Node[] = [];
  let n = start.nextSibling;
  while (
    n &&
    !(n.nodeType === Node.COMMENT_NODE &&
      (n as Comment).data === `/${start.data}`)
  ) {
    nodes.push(n);
    n = n.nextSibling;
  }
  if (!n) throw new Error(`Missing end marker for <!--${start.data}-->`);
  return { nodes, end: n as Comment };
}

/** Server HTML of a slot as vnodes that reproduce the same markup. */
function toVNodes(nodes: Node[]): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  for (const node of nodes) {
    if (node.nodeType === Node.TEXT_NODE) out.push((node as Text).data);
    else if (node.nodeType === Node.ELEMENT_NODE) {
      const el = node as Element;
      const attrs: Record<string, unknown> = {};
      for (const a of Array.from(el.attributes)) attrs[a.name] = a.value;
      attrs.dangerouslySetInnerHTML = { __html: el.innerHTML };
      out.push(h(el.localName, attrs));
    }
  }
  return out;
}

function findSlot(nodes: Node[], name: string): Comment | undefined {
  for (const node of nodes) {
    if (
      node.nodeType === Node.COMMENT_NODE && (node as Comment).data === name
    ) {
      return node as Comment;
    }
    if (node.nodeType === Node.ELEMENT_NODE) {
      const found = findSlot(Array.from(node.childNodes), name);
      if (found) return found;
    }
  }
  return undefined;
}

function reviveIsland(
  start: Comment,
  component: (p: unknown) => VNode,
  props: Record<string, unknown>,
): void {
  const { nodes, end } = between(start);
  const [, id, index] = start.data.match(MARKER)!;
  const slot = findSlot(nodes, `frsh-slot-${id}:${index}:children`);
  if (slot) props.children = toVNodes(between(slot).nodes);
  const parent = start.parentNode!;
  render(
    h(component, props),
    rootFragment(parent, nodes, end) as unknown as Element,
  );
}

/**
 * A stand-in parent that makes preact see only the nodes between two marker
 * comments, as Fresh 1.x's "root fragment" does.
 */
function rootFragment(parent: Node, nodes: Node[], end: Node) {
  const insert = (child: Node, ref?: Node | null) =>
    parent.insertBefore(child, ref ?? end);
  return {
    nodeType: 1,
    parentNode: parent,
    namespaceURI: (parent as Element).namespaceURI,
    ownerDocument: parent.ownerDocument,
    firstChild: nodes[0] ?? null,
    childNodes: nodes,
    insertBefore: insert,
    appendChild: (child: Node) => insert(child),
    removeChild: (child: Node) => parent.removeChild(child),
    contains: (child: Node) => parent.contains(child),
  };
}
