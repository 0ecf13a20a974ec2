// Serves the built Worker in workerd for the real-SDK tier (tests/sdk/run.py): the policy,
// origin and further settings (--vars, a JSON object of names to values) from the arguments,
// no siteverify. Writes its URL to --url-file once ready and runs until it gets SIGTERM.
//
// Usage: node serve_worker.mjs --policy JSON --origin URL --url-file FILE [--vars JSON]

import fs from "node:fs";
import { parseArgs } from "node:util";
import { startWorker } from "../worker/harness.mjs";

const { values } = parseArgs({
  options: { policy: { type: "string" }, origin: { type: "string" }, "url-file": { type: "string" }, vars: { type: "string" } },
});
const vars = values.vars ? JSON.parse(values.vars) : {};
const worker = await startWorker({ policy: values.policy, origin: values.origin, vars });
fs.writeFileSync(values["url-file"], worker.url);
const stop = async () => {
  await worker.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setInterval(() => {}, 1 << 30);
