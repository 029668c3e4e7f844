/**
 * What a caller outside the worker needs to start a workflow type-checked: its registered name
 * and (as a type only) its function signature. Workflow-safe and free of imports, so web,
 * controller, gateway, CLI, activities and tests can all depend on it without pulling workflow
 * code (or each other) in.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WorkflowFunction = (...args: any[]) => Promise<any>;

export interface WorkflowContract<Fn extends WorkflowFunction, Name extends string = string> {
  /** The name the worker registers the workflow under: its exported function's name. */
  readonly workflowType: Name;
  /** Never set: carries `Fn` so `startWorkflow(client, contract, …)` checks `args`. */
  readonly signature?: Fn;
}

/** `defineWorkflow<Fn>()('name')`: the signature is given, the name is inferred as a literal. */
export function defineWorkflow<Fn extends WorkflowFunction>() {
  return <Name extends string>(workflowType: Name): WorkflowContract<Fn, Name> => ({ workflowType });
}

/** A table of contracts keyed by their own workflow names (checked by the compiler). */
export function contractTable<T extends { [K in keyof T]: WorkflowContract<WorkflowFunction, K & string> }>(
  table: T,
): T {
  return table;
}

/** The function type a contract promises, for implementations to be checked against. */
export type ContractFunction<C> = C extends WorkflowContract<infer Fn, string> ? Fn : never;
