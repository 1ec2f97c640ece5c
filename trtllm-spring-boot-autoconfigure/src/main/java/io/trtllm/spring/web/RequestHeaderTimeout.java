package io.trtllm.spring.web;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.netty.NettyPipeline;

/**
 * A deadline for a request's head (request line and headers) on an HTTP/1.1 connection: from the
 * first byte of a request to the end of its headers at most {@code timeout}, else the server answers
 * {@code 408 Request Timeout} and closes the connection.
 *
 * <p>Why this exists: a slowloris client opens many connections and trickles header bytes, one every
 * few seconds. Reactor Netty's idle timeout is reset by every byte read, and its read and request
 * timeouts only start once the head has been decoded, so such a client holds a connection (and its
 * buffers) for as long as it likes. The deadline here does not move with the bytes.
 *
 * <p>Two handlers around Reactor Netty's HTTP codec: one before it sees the raw bytes and starts the
 * clock on the first byte after an idle spell; one after it sees the decoded {@link HttpRequest}
 * (stops the clock) and the end of each response (the connection is idle again, for the idle timeout
 * to govern until the next request's first byte). All on the connection's event loop: no locking.
 */
public final class RequestHeaderTimeout {
    private static final Logger LOG = LoggerFactory.getLogger(RequestHeaderTimeout.class);
    static final String BYTES_HANDLER = "trtllm.requestHeaderTimeout.bytes";
    static final String MESSAGES_HANDLER = "trtllm.requestHeaderTimeout.messages";
    private static final byte[] REQUEST_TIMEOUT = ("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
            + "Content-Type: text/plain\r\nContent-Length: 45\r\n\r\nThe request headers did not arrive in time.\r\n")
            .getBytes(StandardCharsets.US_ASCII);

    private enum State { IDLE, READING_HEAD, IN_REQUEST }

    private final long timeoutNanos;
    private State state = State.IDLE;
    private @Nullable ScheduledFuture<?> deadline;

    private RequestHeaderTimeout(Duration timeout) {
        this.timeoutNanos = timeout.toNanos();
    }

    /**
     * Adds the deadline to a new connection's pipeline (Reactor Netty's {@code doOnChannelInit}: after its
     * own handlers are in); nothing when it has no HTTP/1.1 codec (HTTP/2).
     *
     * @return whether it was added
     */
    public static boolean install(ChannelPipeline pipeline, Duration timeout) {
        if (pipeline.get(NettyPipeline.HttpCodec) == null || pipeline.get(BYTES_HANDLER) != null) {
            return false;
        }
        var deadline = new RequestHeaderTimeout(timeout);
        pipeline.addBefore(NettyPipeline.HttpCodec, BYTES_HANDLER, deadline.new Bytes());
        pipeline.addAfter(NettyPipeline.HttpCodec, MESSAGES_HANDLER, deadline.new Messages());
        return true;
    }

    private void start(ChannelHandlerContext bytes) {
        state = State.READING_HEAD;
        deadline = bytes.executor().schedule(() -> expire(bytes), timeoutNanos, TimeUnit.NANOSECONDS);
    }

    private void stop(State next) {
        state = next;
        ScheduledFuture<?> d = deadline;
        if (d != null) {
            d.cancel(false);
            deadline = null;
        }
    }

    private void expire(ChannelHandlerContext bytes) {
        if (state != State.READING_HEAD || !bytes.channel().isActive()) {
            return;
        }
        LOG.debug("Closing {}: request headers not complete within {} ms", bytes.channel().remoteAddress(),
                TimeUnit.NANOSECONDS.toMillis(timeoutNanos));
        state = State.IN_REQUEST; // nothing more is read from it
        // Written from before the codec: raw bytes, since no request was decoded to answer through it.
        bytes.writeAndFlush(Unpooled.wrappedBuffer(REQUEST_TIMEOUT)).addListener(ChannelFutureListener.CLOSE);
    }

    /** Before the codec: the first byte after an idle spell starts the clock. */
    private final class Bytes extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (state == State.IDLE && msg instanceof ByteBuf buf && buf.isReadable()) {
                start(ctx);
            }
            ctx.fireChannelRead(msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            stop(State.IN_REQUEST);
            ctx.fireChannelInactive();
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            stop(State.IN_REQUEST);
        }
    }

    /** After the codec: a decoded head stops the clock; the end of a response makes the connection idle. */
    private final class Messages extends ChannelDuplexHandler {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof HttpRequest) {
                stop(State.IN_REQUEST);
            }
            ctx.fireChannelRead(msg);
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            if (msg instanceof LastHttpContent) {
                // Before the write: a pipelined next request may already be arriving, and its first
                // byte must find the connection idle to start its own clock.
                if (state == State.IN_REQUEST) {
                    state = State.IDLE;
                }
            }
            ctx.write(msg, promise);
        }
    }
}
