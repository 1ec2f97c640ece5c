package io.trtllm.api;

import io.trtllm.engine.CorruptEngineException;
import io.trtllm.engine.NoUsableDeviceException;
import io.trtllm.engine.NotEnoughSpaceException;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.hub.HubException;
import java.util.HashSet;
import java.util.Set;

/**
 * Why {@code new LLM(args)} failed, in terms a front end can act on without knowing the engine's own
 * exception types (which live below the API): the Spring starter turns it into Boot's "APPLICATION
 * FAILED TO START" with an action, the CLI could into a hint.
 *
 * @param kind    what went wrong
 * @param message the message of the exception that says it (the innermost that was classified, else the
 *                failure's own)
 */
public record EngineStartFailure(Kind kind, String message) {

    /** What went wrong while starting the engine. */
    public enum Kind {
        /** {@code backend cuda} without a usable CUDA device. */
        NO_USABLE_GPU,
        /** The Hugging Face Hub could not be reached, and no cached snapshot was there. */
        HUB_UNREACHABLE,
        /** The Hub refused the model: no such repository or revision, or gated/private without a token. */
        MODEL_NOT_FOUND,
        /** The checkpoint or engine is malformed, unsupported or damaged. */
        BAD_CHECKPOINT,
        /** The disk holding the cache is full. */
        NOT_ENOUGH_SPACE,
        /** A limit does not fit the model or its engine (the message names both). */
        BAD_LIMIT,
        /** Anything else. */
        OTHER
    }

    /** Classifies {@code failure} by the first cause in its chain that says what went wrong. */
    public static EngineStartFailure of(Throwable failure) {
        Set<Throwable> seen = new HashSet<>();
        for (Throwable t = failure; t != null && seen.add(t); t = t.getCause()) {
            boolean outermost = t == failure;
            Kind kind = switch (t) {
                case NoUsableDeviceException e -> Kind.NO_USABLE_GPU;
                case HubException e when e.status() == 0 && e.getCause() != null -> Kind.HUB_UNREACHABLE;
                case HubException e when e.status() == 401 || e.status() == 403 || e.status() == 404 -> Kind.MODEL_NOT_FOUND;
                case ModelFormatException e -> Kind.BAD_CHECKPOINT;
                case CorruptEngineException e -> Kind.BAD_CHECKPOINT;
                case NotEnoughSpaceException e -> Kind.NOT_ENOUGH_SPACE;
                case IllegalArgumentException e when outermost -> Kind.BAD_LIMIT;
                default -> null;
            };
            if (kind != null) {
                return new EngineStartFailure(kind, String.valueOf(t.getMessage()));
            }
        }
        return new EngineStartFailure(Kind.OTHER, String.valueOf(failure.getMessage()));
    }
}
