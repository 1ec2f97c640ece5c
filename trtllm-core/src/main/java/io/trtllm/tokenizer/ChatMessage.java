package io.trtllm.tokenizer;

/**
 * One message of a conversation.
 *
 * @param role    {@code system}, {@code user}, {@code assistant} (or {@code tool})
 * @param content the message text
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        if (role.isBlank()) {
            throw new IllegalArgumentException("chat message role must not be blank");
        }
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
