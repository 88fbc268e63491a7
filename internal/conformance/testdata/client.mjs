// Runpod's JavaScript client (npm runpod-sdk), unmodified, against `sluice
// serve`. argv: the runpod-sdk module's path, the base URL (.../v2), the API
// key. Prints one JSON object of what each call returned.
const [sdkPath, baseUrl, apiKey] = process.argv.slice(2);
const { default: runpodSdk } = await import(sdkPath);
const runpod = runpodSdk(apiKey, { baseUrl });
const out = {};

const echo = runpod.endpoint("go-echo");
out.runSync = await echo.runSync({ input: { echo: "sync" } });
const { id } = await echo.run({ input: { echo: "run" } });
out.runId = id;
let st;
for (let i = 0; i < 600; i++) { // bounded: 60 s
  st = await echo.status(id);
  if (["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(st.status)) break;
  await new Promise((r) => setTimeout(r, 100));
}
out.status = st;

const stream = runpod.endpoint("go-stream");
const job = await stream.run({ input: { n: 3 } });
out.stream = [];
for await (const chunk of stream.stream(job.id)) out.stream.push(chunk.output);

const parked = runpod.endpoint("parked");
const queued = await parked.run({ input: { x: 1 } });
out.parkedStatus = await parked.status(queued.id);
out.health = await parked.health();
out.purge = await parked.purgeQueue();
out.cancelled = await parked.cancel((await parked.run({ input: { x: 2 } })).id);

console.log(JSON.stringify(out));
