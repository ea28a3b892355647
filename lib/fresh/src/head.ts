// <Head>: children rendered into the document <head> (server only).

import { type ComponentChildren, createContext } from "preact";
import { useContext } from "preact/hooks";

export const HEAD_CONTEXT = createContext<ComponentChildren[] | undefined>(
  undefined,
);

export interface HeadProps {
  children?: ComponentChildren;
}

export function Head(props: HeadProps): null {
  const head = useContext(HEAD_CONTEXT);
  if (head) head.push(props.children);
  return null;
}
