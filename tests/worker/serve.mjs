// Serves the built Worker in workerd for the Python tiers (envoylib.serve_worker): the policy,
// origin and further settings (--vars, a JSON object of names to values, such as
// PUMPGUARD_SITEVERIFY_URL) from the arguments. Writes its URL to --url-file once ready and runs
// until it gets SIGTERM.
//
// Usage: node serve.mjs --policy JSON --origin URL --url-file FILE [--vars JSON]

import fs from "node:fs";
import { parseArgs } from "node:util";
import { startWorker } from "./harness.mjs";

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
