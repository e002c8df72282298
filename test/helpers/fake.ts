/**
 * What every in-memory fake of the compute manager's collaborators shares: each call is
 * recorded in order, and a test can hook any method (to change the world mid-operation, as a
 * user or another service would) or make it fail.
 */

type Fn = (...args: never[]) => unknown;

/** The names of T's methods. */
export type MethodOf<T> = { [K in keyof T]: T[K] extends Fn ? K : never }[keyof T] & string;

type ArgsOf<T, M extends MethodOf<T>> = T[M] extends (...args: infer A) => unknown ? A : never;

/** The public surface of a class: what a stand-in must offer (private members excluded). */
export type PublicOf<T> = Pick<T, keyof T>;

export interface Call<T> {
  method: MethodOf<T>;
  args: unknown[];
}

export class Fake<T> {
  readonly calls: Call<T>[] = [];
  private readonly hooks = new Map<string, (...args: never[]) => unknown>();

  /** Runs `hook` at the start of every call of `method`; a hook that throws makes the call fail. */
  on<M extends MethodOf<T>>(method: M, hook: (...args: ArgsOf<T, M>) => unknown): void {
    this.hooks.set(method, hook);
  }

  fail(method: MethodOf<T>, error: Error): void {
    this.hooks.set(method, () => { throw error; });
  }

  /** The arguments of every call of `method`, in call order. */
  callsOf<M extends MethodOf<T>>(method: M): ArgsOf<T, M>[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args as ArgsOf<T, M>);
  }

  /** The methods called, in order. */
  methods(): MethodOf<T>[] {
    return this.calls.map((c) => c.method);
  }

  protected async enter<M extends MethodOf<T>>(method: M, ...args: ArgsOf<T, M>): Promise<void> {
    this.calls.push({ method, args });
    await (this.hooks.get(method) as ((...a: ArgsOf<T, M>) => unknown) | undefined)?.(...args);
  }
}
