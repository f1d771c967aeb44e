// Test stand-in for https://cdn.shopify.com/shopifycloud/app-bridge.js (the browser tests serve it in place of
// Shopify's CDN): window.shopify.idToken() asks the test, through a function Playwright exposes, for a token the
// test minted for its shop with the app's secret, as Shopify's admin would.
window.shopify = {
  idToken: function () {
    return window.mintTestIdToken();
  },
};
