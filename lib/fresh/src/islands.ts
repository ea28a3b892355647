// Island registry and the server-side preact hook that wraps islands rendered
// from a page (not from inside another island) in marker comments:
//   <!--frsh-<id>:<propsIndex>:<key>--> … <!--/frsh-<id>:<propsIndex>:<key>-->
// `children` render server side between
//   <!--frsh-slot-<id>:<propsIndex>:children--> … <!--/frsh-slot-…-->

import {
  type ComponentChildren,
  type ComponentType,
  Fragment,
  h,
  options,
  type VNode,
} from "preact";
import type { IslandModule } from "./types.ts";

export interface Island {
  /** `<lower-cased file name>_<lower-cased export name>` */
  id: string;
  /** Manifest key, e.g. `./islands/Counter.tsx`. */
  file: string;
  exportName: string;
  component: ComponentType<Record<string, unknown>>;
}

export function islandId(file: string, exportName: string): string {
  const base = file.split("/").at(-1)!.replace(/\.[jt]sx?$/, "");
  return `${base}_${exportName}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

/** Every exported function of every island module. */
export function collectIslands(
  islands: Record<string, IslandModule>,
): Island[] {
  const out: Island[] = [];
  const seen = new Map<string, string>();
  for (const [file, mod] of Object.entries(islands)) {
    for (const [exportName, value] of Object.entries(mod)) {
      if (typeof value !== "function") continue;
      const id = islandId(file, exportName);
      const other = seen.get(id);
      if (other !== undefined && other !== file) {
        throw new Error(`Island id "${id}" is used by ${other} and ${file}`);
      }
      seen.set(id, file);
      out.push({
        id,
        file,
        exportName,
        component: value as Island["component"],
      });
    }
  }
  return out;
}

const byComponent = new Map<unknown, Island>();
const byWrapper = new Map<unknown, Island>();
const wrappers = new Map<Island, ComponentType<Record<string, unknown>>>();

export function registerIslands(islands: Island[]): void {
  for (const island of islands) {
    if (byComponent.has(island.component)) continue;
    byComponent.set(island.component, island);
    const Wrapper = (props: Record<string, unknown>) =>
      renderTopLevelIsland(island, props);
    byWrapper.set(Wrapper, island);
    wrappers.set(island, Wrapper);
  }
}

/** Per-render state; rendering is synchronous, so one at a time. */
export interface IslandRenderState {
  /** Props of each top-level island, by props index. */
  props: Record<string, unknown>[];
  /** Islands that need their chunk on this page. */
  used: Set<Island>;
}

const KEY = "__frshKey";

let current: IslandRenderState | undefined;
// "island" while inside an island, "slot" while inside its server children.
let scopes: ("island" | "slot")[] = [];
const pushed = new WeakSet<object>();

/** Run a synchronous render with island tracking on. */
export function withIslandTracking<T>(
  state: IslandRenderState,
  fn: () => T,
): T {
  const prev = current;
  const prevScopes = scopes;
  current = state;
  scopes = [];
  try {
    return fn();
  } finally {
    current = prev;
    scopes = prevScopes;
  }
}

function comment(text: string): VNode {
  // preact-render-to-string prints a Fragment's UNSTABLE_comment as <!--…-->.
  return h(Fragment, { UNSTABLE_comment: text } as Record<string, unknown>);
}

function Slot(props: { children?: ComponentChildren }) {
  return props.children as VNode;
}

function renderTopLevelIsland(
  island: Island,
  props: Record<string, unknown>,
): VNode {
  const state = current!;
  const { children, [KEY]: key, ...rest } = props;
  const index = state.props.push(rest) - 1;
  state.used.add(island);
  const marker = `frsh-${island.id}:${index}:${key ?? ""}`;
  const innerProps: Record<string, unknown> = { ...rest };
  if (children !== undefined) {
    const slot = `frsh-slot-${island.id}:${index}:children`;
    innerProps.children = h(
      Fragment,
      null,
      comment(slot),
      h(Slot, null, children as ComponentChildren),
      comment(`/${slot}`),
    );
  }
  return h(
    Fragment,
    null,
    comment(marker),
    h(island.component, innerProps),
    comment(`/${marker}`),
  );
}

// preact-render-to-string calls options.__b before rendering a vnode (and
// reads vnode.type afterwards) and options.diffed once its subtree is done.
type Hooks = {
  __b?: (vnode: VNode) => void;
  diffed?: (vnode: VNode) => void;
};
const hooks = options as unknown as Hooks;
const prevDiff = hooks.__b;
const prevDiffed = hooks.diffed;

hooks.__b = (vnode: VNode) => {
  if (current && typeof vnode.type === "function") {
    const island = byComponent.get(vnode.type) ?? byWrapper.get(vnode.type);
    if (island) {
      const mutable = vnode as {
        type: unknown;
        props: Record<string, unknown>;
      };
      if (scopes.at(-1) === "island") {
        mutable.type = island.component;
      } else {
        mutable.type = wrappers.get(island);
        if (vnode.key != null) {
          mutable.props = { ...mutable.props, [KEY]: vnode.key };
        }
      }
      scopes.push("island");
      pushed.add(vnode);
    } else if (vnode.type === Slot) {
      scopes.push("slot");
      pushed.add(vnode);
    }
  }
  prevDiff?.(vnode);
};

hooks.diffed = (vnode: VNode) => {
  if (pushed.has(vnode)) {
    pushed.delete(vnode);
    scopes.pop();
  }
  prevDiffed?.(vnode);
};
