package dev.tina.tools.serve;

/**
 * A request the server refuses, answered as OpenAI's error object
 * {@code {"error": {"message", "type", "param", "code"}}} with {@code status}.
 */
final class ApiException extends Exception {
    final int status;
    final String type, param, code;

    ApiException(int status, String type, String param, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 invalid_request_error about {@code param}. */
    static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }
}
