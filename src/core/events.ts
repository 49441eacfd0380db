/** A minimal typed event, the core's stand-in for vscode.EventEmitter (core never imports vscode). */
export type Listener<T> = (value: T) => void;

export interface Subscription {
  dispose(): void;
}

export class Emitter<T> {
  private listeners = new Set<Listener<T>>();

  /** Subscribe; the returned object's `dispose()` unsubscribes (it fits vscode.Disposable). */
  readonly event = (listener: Listener<T>): Subscription => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (err) {
        console.error('[agent-budget] event listener failed', err);
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
