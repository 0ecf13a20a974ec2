// A stand-in for Cloudflare's Turnstile script (challenges.cloudflare.com cannot be reached from
// tests): `turnstile.render` draws a widget and, after a short "solve", calls back with a token
// of the tests' siteverify convention, `pass!<action>-<n>` (tests/envoy/envoylib.py answers it
// with that action). `?solve=no` on the page makes every widget fail instead.
(() => {
  const failing = new URLSearchParams(location.search).get("solve") === "no";
  let widgets = 0;
  window.turnstile = {
    render(container, params) {
      const host = typeof container === "string" ? document.querySelector(container) : container;
      const id = `w${++widgets}`;
      const box = document.createElement("div");
      box.className = "fake-turnstile";
      box.dataset.widget = id;
      box.dataset.sitekey = params.sitekey;
      box.dataset.action = params.action ?? "";
      box.textContent = "Verifying you are human…";
      host.appendChild(box);
      setTimeout(() => {
        if (failing) {
          box.textContent = "Verification failed";
          params["error-callback"]?.("300030");
        } else {
          box.textContent = "Success!";
          params.callback?.(`pass!${params.action ?? ""}-${widgets}`);
        }
      }, 200);
      return id;
    },
    remove(id) {
      document.querySelector(`[data-widget="${id}"]`)?.classList.add("removed");
    },
  };
})();
