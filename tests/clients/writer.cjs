// A published third-party client that writes (npm ecwid-api-client), unmodified: only its
// base URL option points it at the service. It sends its token as ?token= on every call.
// Runs each step even when one fails and prints every step's outcome as JSON.
// Usage: node writer.cjs BASE_URL STORE_ID TOKEN NAME
"use strict";
const { Ecwid } = require("ecwid-api-client");

async function step(call) {
  try {
    return { ok: true, result: await call() };
  } catch (error) {
    const response = error.response;
    return response
      ? { ok: false, status: response.status, data: response.data }
      : { ok: false, error: String(error) };
  }
}

async function main() {
  const [apiCustomBaseUrl, apiStoreId, apiToken, name] = process.argv.slice(2);
  const ecwid = new Ecwid({ apiToken, apiStoreId, apiCustomBaseUrl });
  const steps = {};
  steps.add = await step(() => ecwid.products.add({ name, sku: `${name}-1`, price: 19.5 }));
  const id = steps.add.ok ? steps.add.result.id : 1;
  steps.getAll = await step(() => ecwid.products.getAll());
  steps.search = await step(() => ecwid.products.getByKeyword(name));
  steps.get = await step(() => ecwid.products.getById(id));
  steps.update = await step(() => ecwid.products.update(id, { name: `${name} XL`, price: 24 }));
  steps.getUpdated = await step(() => ecwid.products.getById(id));
  steps.delete = await step(() => ecwid.products.delete(id));
  steps.getDeleted = await step(() => ecwid.products.getById(id));
  process.stdout.write(JSON.stringify({ id, steps }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
