/** Who may see /ops: a signed-in wallet key listed in REACH_OPERATOR_KEYS. */
import type { Config } from "../config.ts";
import type { State } from "../state.ts";

export function isOperator(state: State, config: Config): boolean {
  const key = state.session?.publicKey;
  return !!key && config.operatorKeys.includes(key);
}
