// Opens a link from a delivered mail in headless Chromium, fills the page's form the way a
// person does (by its labels), submits it, and checks what the page then says. Fails on any
// request or script the page's Content-Security-Policy refuses.
//
// node journey.mjs reset  <link> <new password> <screenshot.png>
// node journey.mjs verify <link> <screenshot.png>
// node journey.mjs signin <authorization URL> <login> <password> <callback prefix> <screenshot.png>
import { chromium } from "playwright-core";

const [kind, link, ...rest] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const problems = [];
try {
  const page = await browser.newPage({ javaScriptEnabled: false });
  page.on("console", (msg) => {
    if (/Content Security Policy|Refused/.test(msg.text())) problems.push(msg.text());
  });
  page.on("requestfailed", (req) => problems.push(`failed: ${req.url()}`));
  if (kind === "signin") {
    // The app sends the browser to the authorization endpoint, which sends it on to sign in;
    // after it and the consent page, the browser lands on the app's callback with a code.
    const [login, password, callback, screenshot] = rest;
    const opened = await page.goto(link);
    if (opened.status() !== 200) throw new Error(`the sign-in page answered ${opened.status()}`);
    await page.getByLabel("Username or email").fill(login);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page
      .getByRole("heading", { name: "Allow access?" })
      .waitFor({ timeout: 10000 })
      .catch(async (err) => {
        throw new Error(`${err.message}\n${page.url()}\n${await page.content()}`);
      });
    await page.screenshot({ path: screenshot, fullPage: true });
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL((url) => url.href.startsWith(callback));
    if (problems.length) throw new Error(`refused by the page's policy: ${problems.join("; ")}`);
    console.log(JSON.stringify({ landed: page.url() }));
    process.exit(0);
  }
  const opened = await page.goto(link);
  if (opened.status() !== 200) throw new Error(`the link answered ${opened.status()}`);

  let screenshot;
  if (kind === "reset") {
    const [password, shot] = rest;
    screenshot = shot;
    await page.getByLabel("New password").fill(password);
    await page.getByLabel("The same password again").fill(password);
    await page.getByRole("button", { name: "Set the new password" }).click();
    await page.getByRole("heading", { name: "Your password is changed" }).waitFor();
  } else if (kind === "verify") {
    [screenshot] = rest;
    await page.getByRole("button", { name: "Confirm my address" }).click();
    await page.getByRole("heading", { name: "Your address is confirmed" }).waitFor();
  } else {
    throw new Error(`unknown journey ${kind}`);
  }
  const status = await page.getByRole("status").textContent();
  // The way on from the success screen.
  const next = await page.getByRole("link", { name: "Continue to sign in" }).getAttribute("href");
  await page.screenshot({ path: screenshot, fullPage: true });
  if (problems.length) throw new Error(`refused by the page's policy: ${problems.join("; ")}`);
  console.log(JSON.stringify({ status, next }));
} finally {
  await browser.close();
}
