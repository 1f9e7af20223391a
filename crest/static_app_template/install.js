// The installer: nothing to set up yet, so tell the portal the install is done. The portal
// then marks the app installed and opens index.html in this frame.
BX24.init(function () {
  BX24.installFinish();
});
