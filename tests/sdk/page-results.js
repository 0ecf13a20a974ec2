// How a real-SDK page reports: its results shown on the page and posted to origin, which records
// them for tests/sdk/browser.py. `send` is the page's fetch before any wrapping of its own.
export async function report(results, send = fetch) {
  document.getElementById("result").textContent = JSON.stringify(results);
  const run = new URLSearchParams(location.search).get("run") || "";
  await send(`/page/results?run=${encodeURIComponent(run)}`,
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(results) });
}
