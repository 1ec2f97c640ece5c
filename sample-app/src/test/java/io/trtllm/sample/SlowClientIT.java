package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * Slow clients cannot hold the server: clients that trickle a request's head a byte at a time (a
 * slowloris), or send nothing, are dropped within the idle timeout, clients that trickle a body are
 * answered 408 within the body timeout, while a normal request is served meanwhile. Short timeouts here;
 * the defaults are 20 s (idle, which bounds the head) and 60 s (body).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "trtllm.http.idle-timeout=2s", "trtllm.http.body-timeout=3s"})
class SlowClientIT {
    private static final int CLIENTS = 50;
    /** Time beyond a timeout that closing may take (timer resolution, a loaded 2-core machine). */
    private static final long MARGIN_MILLIS = 2500;

    @LocalServerPort
    int port;

    /** What a slow client saw: how long until the server closed, and what it answered first. */
    private record Outcome(long closedAfterMillis, String answer) {
    }

    /**
     * Opens a connection, writes {@code head} at once, then one byte of {@code trickle} every 300 ms, and
     * reads until the server closes the connection (or 30 s pass).
     */
    private Outcome trickle(String head, String trickle) throws IOException {
        // Before the connect: the server's clock starts when it accepts, and a busy machine may pause this
        // thread between the connect and its next line.
        long start = System.nanoTime();
        try (Socket socket = new Socket("localhost", port)) {
            socket.setSoTimeout(300);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            var answer = new ByteArrayOutputStream();
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            byte[] buf = new byte[4096];
            int next = 0;
            while (System.nanoTime() - start < Duration.ofSeconds(30).toNanos()) {
                try {
                    int n = in.read(buf);
                    if (n < 0) {
                        break; // closed by the server
                    }
                    answer.write(buf, 0, n);
                } catch (SocketTimeoutException e) {
                    if (next < trickle.length()) {
                        try {
                            out.write(trickle.charAt(next++));
                            out.flush();
                        } catch (SocketException closed) {
                            break;
                        }
                    }
                } catch (SocketException reset) {
                    break;
                }
            }
            return new Outcome((System.nanoTime() - start) / 1_000_000, answer.toString(StandardCharsets.US_ASCII));
        }
    }

    @Test
    void fiftySlowlorisConnectionsAreClosedWithinTheIdleTimeoutWhileNormalRequestsAreServed() throws Exception {
        String slowHeaders = "X-Slow-" + "a".repeat(200) + ": " + "b".repeat(200) + "\r\n";
        List<Future<Outcome>> slow = new ArrayList<>();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < CLIENTS; i++) {
                slow.add(clients.submit(() -> trickle("GET /actuator/health HTTP/1.1\r\nHost: localhost\r\n", slowHeaders)));
            }
            Thread.sleep(500); // the slow clients are connected and trickling
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            for (int i = 0; i < 3; i++) {
                long start = System.nanoTime();
                HttpResponse<String> ok = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/models"))
                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(ok.statusCode()).isEqualTo(200);
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
                Thread.sleep(300);
            }
            for (Future<Outcome> f : slow) {
                Outcome o = f.get();
                assertThat(o.closedAfterMillis()).as("closed after (ms)").isLessThan(2000 + MARGIN_MILLIS)
                        .isGreaterThanOrEqualTo(1900);
                assertThat(o.answer()).as("nothing answered: the head never completed").isEmpty();
            }
        }
    }

    @Test
    void theNextRequestOnAKeepAliveConnectionIsHeldToTheIdleTimeoutToo() throws IOException {
        String first = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n";
        // The first request is answered (200); the second one's head trickles and is cut off.
        Outcome o = trickle(first + "GET /v1/models HTTP/1.1\r\n", "X-Slow: " + "z".repeat(100) + "\r\n");
        assertThat(o.answer()).startsWith("HTTP/1.1 200 ").doesNotContain("HTTP/1.1 408");
        assertThat(o.closedAfterMillis()).isLessThan(2000 + MARGIN_MILLIS);
    }

    @Test
    void aBodyThatTricklesIsCutOffByTheBodyTimeout() throws IOException {
        for (String path : new String[] {"/v1/completions", "/api/chat"}) {
            String head = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 500\r\n\r\n{\"prompt\": \"";
            Outcome o = trickle(head, "a".repeat(400));
            assertThat(o.closedAfterMillis()).as(path).isLessThan(3000 + MARGIN_MILLIS).isGreaterThanOrEqualTo(2900);
            assertThat(o.answer()).as(path).startsWith("HTTP/1.1 408 ");
        }
    }

    @Test
    void aConnectionThatSendsNothingIsClosedAfterTheIdleTimeout() throws IOException {
        Outcome o = trickle("", "");
        assertThat(o.closedAfterMillis()).isLessThan(2000 + MARGIN_MILLIS).isGreaterThanOrEqualTo(1900);
        assertThat(o.answer()).isEmpty();
    }

    @Test
    void oversizedHeadsAreRefused() throws IOException {
        // server.max-http-request-header-size (8KB) and server.netty.max-initial-line-length (4KB).
        Outcome header = trickle("GET /v1/models HTTP/1.1\r\nHost: localhost\r\nX-Big: " + "x".repeat(16 * 1024)
                + "\r\n\r\n", "");
        assertThat(header.answer()).matches("(?s)HTTP/1\\.1 4\\d\\d .*");
        Outcome line = trickle("GET /v1/models?" + "q".repeat(8 * 1024) + " HTTP/1.1\r\nHost: localhost\r\n\r\n", "");
        assertThat(line.answer()).matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    }
}
