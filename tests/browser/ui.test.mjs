// The web page end to end in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// start `sdref serve` with the demo model on a free port, fill the form, generate, watch the progress bar move
// and the image arrive, inpaint with a painted mask, interrupt a long run, read a PNG's parameters back (PNG Info),
// upscale (Extras), animate, see the ControlNet unit, and check the page at phone width. Screenshots of each tab go to
// OUT_DIR (build/: web-ui*.png). Usage: node ui.test.mjs SDREF_BINARY OUT_DIR
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [sdref, outDir] = process.argv.slice(2);
if (!sdref || !outDir) throw new Error("usage: node ui.test.mjs SDREF_BINARY OUT_DIR");
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log((ok ? "ok   " : "FAIL ") + what); };

// an --upscaler-dir holding the first network that set v4's realesrgan.safetensors names (its `cases` metadata)
const golden = process.env.SDREF_GOLDEN_V4 || `${dirname(fileURLToPath(import.meta.url))}/../golden/v4`;
const goldenFile = readFileSync(`${golden}/realesrgan.safetensors`);
const header = JSON.parse(goldenFile.subarray(8, 8 + Number(goldenFile.readBigUInt64LE(0))).toString());
const upscalerFile = Object.values(JSON.parse(header.__metadata__.cases))[0].files.slice(-1)[0];
const upscalers = `${outDir}/web-ui-upscalers`;
mkdirSync(upscalers, { recursive: true });
copyFileSync(`${golden}/${upscalerFile}`, `${upscalers}/${upscalerFile}`);
const upscalerName = upscalerFile.replace(/\.[^.]*$/, "");

// the server, on a port the system picks
const server = spawn(sdref, ["serve", "--port", "0", "-t", "2", "--upscaler-dir", upscalers], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve, reject) => {
  let text = "";
  server.stdout.on("data", (d) => { text += d; const m = text.match(/on (http:\/\/[^ \n]+)/); if (m) resolve(m[1]); });
  server.on("exit", (code) => reject(new Error("sdref serve exited with " + code)));
  setTimeout(() => reject(new Error("sdref serve did not start in 30 s")), 30000);
});

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "ready", null, { timeout: 30000 });
  check(await page.locator("#sampler_name option").count() >= 10, "the sampler list comes from the server");
  const first = await page.evaluate(() => ["width", "height", "steps"].map((id) => document.getElementById(id).value));
  const model = await page.evaluate(() => fetch("/sdref/v1/model").then((r) => r.json()));
  check(first.every((v) => Number(v) > 0) && first.join() === [model.width, model.height, model.steps].join(),
        `the size and steps fields show the model's defaults as numbers at first paint (${first.join(", ")})`);

  // txt2img: the progress bar must be seen part-way, then the image must appear in the gallery
  await page.fill("#prompt", "a blue square on a white background");
  await page.fill("#steps", "80");
  await page.fill("#seed", "7");
  await page.click("#generate");
  const seen = new Set();
  const t0 = Date.now();
  while (Date.now() - t0 < 60000) {
    seen.add(await page.locator("#progress").evaluate((p) => p.value));
    if (await page.locator("#gallery figure").count() > 0) break;
    await page.waitForTimeout(50);
  }
  const partway = [...seen].filter((v) => v > 0 && v < 100);
  check(partway.length >= 2, `the progress bar moved (values seen: ${[...seen].sort((a, b) => a - b).join(" ")})`);
  check(await page.locator("#gallery figure").count() === 1, "the image appeared in the gallery");
  const size = await page.locator("#gallery figure img").first().evaluate((img) => img.decode().then(() => [img.naturalWidth, img.naturalHeight]));
  check(size[0] > 0 && size[1] > 0, `the image decodes (${size[0]}x${size[1]})`);
  const caption = await page.locator("#gallery figcaption").first().textContent();
  check(caption.includes("Steps: 80") && caption.includes("Seed: 7"), "its parameters are shown: " + caption.replace(/\n/g, " | "));
  const href = await page.locator("#gallery a[download]").first().getAttribute("href");
  const png = Buffer.from(href.split(",")[1], "base64");
  check(png.includes(Buffer.from("tEXtparameters")), "the download is a PNG with its parameters");
  await page.screenshot({ path: `${outDir}/web-ui.png`, fullPage: true });

  // reuse settings: the PNG's parameters back into the form (through PNG Info)
  await page.fill("#steps", "5");
  await page.click("#gallery figure .actions button");
  await page.waitForFunction(() => document.getElementById("steps").value === "80", null, { timeout: 10000 });
  check(true, "reuse settings restores steps from the PNG");

  // inpainting: an init image, a stroke painted on the mask canvas
  const init = Buffer.from(href.split(",")[1], "base64");
  writeFileSync(`${outDir}/web-ui-init.png`, init);
  await page.click("#tab-img2img");
  await page.setInputFiles("#init-file", `${outDir}/web-ui-init.png`);
  await page.waitForFunction(() => document.getElementById("width").value === "64", null, { timeout: 10000 });
  const box = await page.locator("#mask-canvas").boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.5, { steps: 8 });
  await page.mouse.up();
  await page.fill("#steps", "10");
  await page.click("#generate");
  await page.waitForFunction(() => document.querySelectorAll("#gallery figure").length === 2, null, { timeout: 60000 });
  const inpaint = await page.locator("#gallery figcaption").first().textContent();
  check(inpaint.includes("Denoising strength"), "the inpainting result arrived: " + inpaint.replace(/\n/g, " | "));

  // interrupt a long run
  await page.click("#tab-txt2img");
  await page.fill("#steps", "1000");
  await page.click("#generate");
  await page.waitForFunction(() => document.getElementById("progress").value > 0, null, { timeout: 30000 });
  await page.click("#interrupt");
  await page.waitForFunction(() => /interrupted/.test(document.getElementById("status").textContent), null, { timeout: 30000 });
  check(true, "interrupt stops a run");

  // the hires fix: drawn at 64, redrawn at twice that
  const before = await page.locator("#gallery figure").count();
  await page.fill("#steps", "6");
  await page.check("#enable_hr");
  await page.fill("#hr_second_pass_steps", "4");
  await page.click("#generate");
  await page.waitForFunction((n) => document.querySelectorAll("#gallery figure").length === n + 1, before, { timeout: 60000 });
  const hires = await page.locator("#gallery figcaption").first().textContent();
  const hiresSize = await page.locator("#gallery figure img").first().evaluate((img) => img.decode().then(() => img.naturalWidth));
  check(hiresSize === 128 && hires.includes("Hires upscale: 2, Hires steps: 4, Hires upscaler: Latent"),
        `the hires fix draws at twice the size (${hiresSize} px): ` + hires.replace(/\n/g, " | "));

  // PNG Info: the first picture's parameters shown, then sent to txt2img
  await page.fill("#steps", "5");
  await page.click("#tab-pnginfo");
  await page.setInputFiles("#png-file", `${outDir}/web-ui-init.png`);
  await page.waitForFunction(() => /Steps: 80/.test(document.getElementById("png-info-text").textContent), null, { timeout: 10000 });
  check(await page.locator("#png-info-table tr").count() >= 5, "PNG Info lists the picture's parameters");
  await page.screenshot({ path: `${outDir}/web-ui-pnginfo.png`, fullPage: true });
  await page.click("#png-send");
  await page.waitForFunction(() => document.getElementById("steps").value === "80" && !document.getElementById("form").classList.contains("hidden"),
                             null, { timeout: 10000 });
  check(true, "PNG Info sends the parameters to txt2img");

  // Extras: the picture upscaled by the network of --upscaler-dir
  const beforeExtras = await page.locator("#gallery figure").count();
  await page.click("#tab-extras");
  await page.setInputFiles("#extras-file", `${outDir}/web-ui-init.png`);
  await page.selectOption("#extras-upscaler", upscalerName);
  await page.fill("#extras-scale", "2");
  await page.click("#extras-run");
  await page.waitForFunction((n) => document.querySelectorAll("#gallery figure").length === n + 1, beforeExtras, { timeout: 60000 });
  const upscaled = await page.locator("#gallery figure img").first().evaluate((img) => img.decode().then(() => img.naturalWidth));
  const extrasCaption = await page.locator("#gallery figcaption").first().textContent();
  check(upscaled === 128 && extrasCaption.includes("Postprocess upscaler: " + upscalerName), `Extras upscales with ${upscalerName} (${upscaled} px)`);
  await page.screenshot({ path: `${outDir}/web-ui-extras.png`, fullPage: true });

  // Animation: three frames, an animated WebP in the gallery
  const beforeAnimation = await page.locator("#gallery figure").count();
  await page.click("#tab-animation");
  await page.fill("#steps", "4");
  await page.fill("#anim-frames", "3");
  await page.fill("#anim-angle", "0:(5)");
  await page.click("#generate");
  await page.waitForFunction((n) => document.querySelectorAll("#gallery figure").length === n + 1, beforeAnimation, { timeout: 120000 });
  const animation = await page.locator("#gallery figure").first().evaluate((f) => [f.querySelector("a").href.slice(0, 20), f.querySelector("figcaption").textContent,
                                                                                   f.querySelectorAll("button").length]);
  check(animation[2] === 0, "an animation has no settings to reuse (no button)");
  check(animation[0].startsWith("data:image/webp") && animation[1].includes("animation: 3 frames"), "the animation tab makes a 3-frame WebP: " + animation[1].split("\n")[0]);
  await page.screenshot({ path: `${outDir}/web-ui-animation.png`, fullPage: true });

  // the ControlNet unit: its lists come from the server
  await page.click("#tab-txt2img");
  await page.click("#controlnet-panel summary");
  check(await page.locator("#cn-module option").count() >= 2, "the ControlNet unit lists the preprocessors");
  check(await page.locator("#cn-model option").first().textContent() === "None", "the ControlNet unit starts with no model");
  await page.screenshot({ path: `${outDir}/web-ui-controlnet.png`, fullPage: true });
  check(errors.length === 0, "no script errors: " + errors.join("; "));

  // phone width: nothing wider than the screen
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  await phone.goto(url);
  await phone.waitForFunction(() => document.getElementById("status").textContent === "ready", null, { timeout: 30000 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `fits a 390 px wide phone (overflow ${overflow} px)`);
  await phone.screenshot({ path: `${outDir}/web-ui-phone.png`, fullPage: true });
} finally {
  await browser.close();
  server.kill("SIGTERM");
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("web page: all checks passed");
