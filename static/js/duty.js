// The duty page's "Scan QR code" button: the browser's own BarcodeDetector reads the
// checkpoint's QR code from the camera and submits its code; without that API the button
// stays hidden and the code is typed.
(function () {
  "use strict";
  const form = document.getElementById("checkin-form");
  const button = document.getElementById("scan-button");
  const video = document.getElementById("scan-video");
  const input = document.getElementById("checkin-code");
  const note = document.getElementById("scan-note");
  if (!form || !button || !video || !input) return;
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  button.hidden = false;

  let stream = null;
  let timer = null;

  // A QR code holds the check-in address (…/duty/checkin/<code>/) or the bare code.
  function codeFrom(text) {
    const match = /\/duty\/checkin\/([A-Za-z0-9_-]{1,32})\/?$/.exec(text.trim());
    if (match) return match[1];
    return /^[A-Za-z0-9_-]{1,32}$/.test(text.trim()) ? text.trim() : null;
  }

  function stop() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.hidden = true;
    button.textContent = "Scan QR code";
  }

  async function start() {
    let detector;
    try {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
    } catch (error) {
      stop();
      note.textContent = "The camera could not be opened (" + error.name + "): type the code.";
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    button.textContent = "Stop scanning";
    await video.play();
    const look = async () => {
      if (!stream) return;
      try {
        const found = await detector.detect(video);
        for (const barcode of found) {
          const code = codeFrom(barcode.rawValue || "");
          if (code) {
            input.value = code;
            stop();
            form.submit();
            return;
          }
        }
      } catch (error) {
        // A frame not ready yet: try the next one.
      }
      timer = setTimeout(look, 250);
    };
    look();
  }

  button.addEventListener("click", () => {
    if (stream) stop();
    else start();
  });
})();
