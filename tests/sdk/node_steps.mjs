// The loop every Node SDK check runs: each step one call of the SDK, in order. A step's result is
// what the call returned, or what it threw as the check's `describe` reads it, beside what
// `observed` says of the step's requests (`begin` resets that before each step).
export async function runSteps(steps, calls, { begin, observed, describe }) {
  const results = [];
  for (const step of steps) {
    begin();
    let data = null;
    let error = null;
    try {
      data = (await calls[step.call](step.args ?? {})) ?? null;
    } catch (thrown) {
      error = await describe(thrown);
    }
    results.push({ name: step.name, ...observed(), data, error });
  }
  return results;
}

// The plan of steps the Python side writes to the check's stdin.
export async function readSteps() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}
