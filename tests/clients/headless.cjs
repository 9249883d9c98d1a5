// Ecwid's own storefront client (npm headless-js-api), unmodified: only its baseURL and token
// options point it at the service. Reads what a storefront page reads; prints it as JSON.
// Usage: node headless.cjs BASE_URL STORE_ID TOKEN PRODUCT_ID KEYWORD
"use strict";
const api = require("headless-js-api/api");

// For a failed request the client also rejects a promise of its own that nothing awaits (its
// de-duplication of requests): a browser logs that, node would end the process for it.
process.on("unhandledRejection", () => {});

async function failure(call) {
  try {
    await call();
    return null;
  } catch (error) {
    return error.response ? { status: error.response.status, data: error.response.data } : String(error);
  }
}

async function main() {
  const [baseURL, storeId, token, productId, keyword] = process.argv.slice(2);
  await api.initStorefrontApi({ publicToken: token, storeId, baseURL });
  const found = await api.searchProducts({ keyword });
  const product = await api.getProduct({ productId });
  const profile = await api.getStoreProfile();
  const missing = await failure(() => api.getProduct({ productId: "987654321" }));
  process.stdout.write(JSON.stringify({ found, product, profile, missing }));
}

main().catch((error) => {
  const response = error.response;
  console.error(response ? `HTTP ${response.status}: ${JSON.stringify(response.data)}` : error);
  process.exit(1);
});
