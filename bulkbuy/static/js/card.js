// Card forms on our pages: Stripe.js sends the card to Stripe; we only post back ids.
// data-mode="setup": save a card with a SetupIntent, then post its id.
// data-mode="confirm": let the bank confirm a PaymentIntent, then post so the
// server reads the outcome from Stripe (never from this page).
(function () {
  "use strict";
  var root = document.getElementById("stripe-root");
  if (!root || typeof Stripe !== "function") { return; }
  var form = document.getElementById("stripe-form");
  var message = document.getElementById("stripe-message");
  var button = form.querySelector("button[type=submit]");
  var stripe = Stripe(root.getAttribute("data-key"));
  var secret = root.getAttribute("data-secret");
  var mode = root.getAttribute("data-mode");
  // The words come from the page, so they are in the page's language.
  function say(name) { return root.getAttribute("data-say-" + name) || ""; }
  var card = null;
  if (mode === "setup") {
    card = stripe.elements().create("card");
    card.mount("#card-element");
  }
  var busy = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    busy = true;
    button.disabled = true;
    message.textContent = say("wait");
    var step = mode === "setup"
      ? stripe.confirmCardSetup(secret, { payment_method: { card: card } })
      : stripe.confirmCardPayment(secret);
    Promise.resolve(step).then(function (result) {
      if (mode === "setup") {
        if (result.error || !result.setupIntent) {
          var why = (result.error && result.error.message) || say("not-saved");
          message.textContent = why + " " + say("check");
          busy = false;
          button.disabled = false;
          return;
        }
        form.elements.setup_intent.value = result.setupIntent.id;
      }
      message.textContent = "";
      form.submit();
    }, function () {
      message.textContent = say("failed");
      busy = false;
      button.disabled = false;
    });
  });
}());
