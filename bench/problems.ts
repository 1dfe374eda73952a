/**
 * Errors seen while a phase ran (non-2xx, timeouts, GraphQL errors, a broken refresh chain…). In a real run the
 * first one stops the bench: a figure measured over failing requests is not a figure. The smoke only has to
 * show that every phase still runs on a noisy CI machine, so there they are collected and reported.
 */
export class Problems {
  readonly list: string[] = [];

  constructor(private readonly strict: boolean) {}

  report(phase: string, message: string): void {
    const line = `${phase}: ${message}`;
    this.list.push(line);
    if (this.strict) throw new Error(`bench phase failed — ${line}`);
    console.error(`bench: problem in ${line}`);
  }
}
