package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The chat page in a real headless Chromium (Debian's chromium and chromium-driver, which .ci/run
 * installs): type a message, watch the reply grow event by event, compare it with the chat model's
 * greedy reply, and keep a screenshot ({@code target/browser/chat-page.png}). Without the browser
 * the test is skipped with the reason, unless {@code TRTLLM_REQUIRE_BROWSER=true} (set by CI), when
 * it fails.
 */
class ChatPageBrowserIT extends SampleAppTestSupport {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final int MAX_TOKENS = 64;

    @Test
    void theChatPageStreamsTheReplyAsItIsGenerated(@TempDir Path profile) throws Exception {
        requireBrowser();
        var options = new ChromeOptions().setBinary(CHROMIUM.toFile()).addArguments("--headless=new", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1000,800", "--user-data-dir=" + profile);
        var service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort()
                .build();
        ChromeDriver browser = new ChromeDriver(service, options);
        try {
            browser.get("http://localhost:" + port + "/");
            assertThat(browser.getTitle()).isEqualTo("trtllm chat");
            // Every change of the reply's text, with the time it happened.
            browser.executeScript("""
                    window.replyUpdates = [];
                    new MutationObserver(() => {
                      const reply = document.querySelector('.assistant');
                      if (reply) window.replyUpdates.push([performance.now(), reply.textContent.length]);
                    }).observe(document.getElementById('conversation'),
                               {subtree: true, childList: true, characterData: true});""");
            setValue(browser, "temperature", "0");
            setValue(browser, "max-tokens", Integer.toString(MAX_TOKENS));
            browser.findElement(By.id("message")).sendKeys(PROMPT);
            browser.findElement(By.id("send")).click();

            WebElement status = browser.findElement(By.id("status"));
            for (int i = 0; i < 600 && !status.getText().contains("finish reason"); i++) {
                Thread.sleep(100);
            }
            saveScreenshot(browser);
            assertThat(status.getText()).contains(MAX_TOKENS + " tokens", "finish reason LENGTH");

            String reply = (String) browser.executeScript("return document.querySelector('.assistant').textContent");
            assertThat(reply).isEqualTo(greedyReply(MAX_TOKENS));
            assertThat(browser.findElement(By.cssSelector(".user")).getText()).isEqualTo(PROMPT);
            @SuppressWarnings("unchecked")
            List<List<Number>> updates = (List<List<Number>>) browser.executeScript("return window.replyUpdates");
            List<Integer> lengths = updates.stream().map(u -> u.get(1).intValue()).distinct().toList();
            assertThat(lengths).as("the reply grew piece by piece").hasSizeGreaterThan(10).isSorted();
            assertThat(lengths.getLast()).isEqualTo(reply.length());
        } finally {
            browser.quit();
        }
    }

    private static void requireBrowser() {
        if (Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER)) {
            return;
        }
        String why = "Debian chromium and chromium-driver are not installed (" + CHROMIUM + ", " + CHROMEDRIVER
                + "): apt-get install -y chromium chromium-driver (.ci/run does)";
        if (Boolean.parseBoolean(System.getenv("TRTLLM_REQUIRE_BROWSER"))) {
            fail(why);
        }
        Assumptions.abort(why);
    }

    private static void setValue(ChromeDriver browser, String id, String value) {
        browser.executeScript("document.getElementById(arguments[0]).value = arguments[1]", id, value);
    }

    private static void saveScreenshot(ChromeDriver browser) throws java.io.IOException {
        Path dir = Path.of("target", "browser");
        Files.createDirectories(dir);
        Files.write(dir.resolve("chat-page.png"), browser.getScreenshotAs(OutputType.BYTES));
    }
}
