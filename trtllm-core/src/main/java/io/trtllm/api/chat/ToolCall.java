package io.trtllm.api.chat;

/**
 * A tool call the model wrote, as OpenAI reports it ({@code {"id", "type": "function", "function":
 * {"name", "arguments"}}}).
 *
 * @param id        an id made up for the call ({@code call_...}; 9 letters and digits for Mistral, whose
 *                  chat template requires them)
 * @param name      the function's name
 * @param arguments the arguments as the model wrote them: JSON text, normally an object; where the reply
 *                  was cut off inside a call, what it wrote so far
 */
public record ToolCall(String id, String name, String arguments) {
    public ToolCall {
        if (id == null || name == null || arguments == null) {
            throw new IllegalArgumentException("id, name and arguments must not be null");
        }
    }
}
