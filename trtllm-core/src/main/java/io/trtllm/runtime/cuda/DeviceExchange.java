package io.trtllm.runtime.cuda;

import io.trtllm.runtime.Communicator;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * How a CUDA rank exchanges float32 device buffers with the other ranks of one group (the TP ranks of its stage,
 * or the stages of its TP rank), in the order of the rank's stream: launches enqueued before a call are what it
 * reads, launches enqueued after it see what it wrote. Two paths, chosen by the group's {@link Communicator}
 * ({@link #of}): {@link NcclCommunicator} on device buffers (ranks on distinct devices; the collectives are
 * enqueued on the rank's stream, nothing goes through the host), or {@link HostStagedExchange} over any host
 * communicator (ranks that share a device, which NCCL refuses; synchronizes the stream at each call). Not
 * thread-safe: its rank's thread calls it.
 */
interface DeviceExchange extends AutoCloseable {

    /** Replaces {@code floats} values at device address {@code device} by their sum over the group's ranks. */
    void allReduceSum(long device, long floats, CUstream_st stream);

    /** Sends {@code floats} values at {@code device} to rank {@code peer} of the group. */
    void send(long device, long floats, int peer, CUstream_st stream);

    /** Fills {@code floats} values at {@code device} with what rank {@code peer} of the group {@link #send sent}. */
    void receive(long device, long floats, int peer, CUstream_st stream);

    /** {@code NCCL} or {@code host-staged}, for logs and descriptions. */
    String path();

    /** Frees what the exchange holds (not the communicator, which the rank group owns). */
    @Override
    void close();

    /** The exchange over {@code communicator}: NCCL's on device buffers, else staged through pinned host memory. */
    static DeviceExchange of(Communicator communicator, DeviceMemory memory) {
        return communicator instanceof NcclCommunicator nccl ? new Nccl(nccl) : new HostStagedExchange(communicator, memory);
    }

    /**
     * NCCL's collectives on the rank's own stream: the all-reduce and the receive are enqueued and not waited for
     * (the pass's next launches queue behind them; its end synchronizes the stream), so no host round trip splits
     * the pass. A send is waited for, polling NCCL's asynchronous errors and the communicator's timeout, so that a
     * stage does not reuse its buffers before the next stage has them. A peer that never comes is ended by the
     * rank group's timeout, which aborts the communicators ({@code ncclCommAbort} ends the kernels waiting).
     */
    record Nccl(NcclCommunicator communicator) implements DeviceExchange {
        @Override
        public void allReduceSum(long device, long floats, CUstream_st stream) {
            communicator.enqueueAllReduceSum(device, floats, stream);
        }

        @Override
        public void send(long device, long floats, int peer, CUstream_st stream) {
            communicator.enqueueSend(device, floats, peer, stream);
            communicator.await(stream, "ncclSend(to rank " + peer + ")");
        }

        @Override
        public void receive(long device, long floats, int peer, CUstream_st stream) {
            communicator.enqueueReceive(device, floats, peer, stream);
        }

        @Override
        public String path() {
            return "NCCL";
        }

        @Override
        public void close() {
            // The communicator belongs to the rank group, which closes it after the ranks.
        }
    }
}
