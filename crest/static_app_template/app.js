// The main page: ask the portal who is looking at it, with that user's own rights.
BX24.init(function () {
  BX24.callMethod("user.current", {}, function (result) {
    if (result.error()) {
      var error = document.getElementById("error");
      error.textContent = "The portal refused: " + result.error();
      error.hidden = false;
      return;
    }
    var user = result.data();
    var name = [user.NAME, user.LAST_NAME].filter(Boolean).join(" ");
    // textContent, never innerHTML: the name is data, not markup.
    document.getElementById("user-name").textContent = name || "user #" + user.ID;
    BX24.fitWindow();
  });
});
