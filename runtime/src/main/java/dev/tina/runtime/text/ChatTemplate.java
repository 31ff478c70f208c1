package dev.tina.runtime.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.tina.export.checkpoint.CheckpointFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's Jinja chat template (from {@code tokenizer_config.json}'s {@code chat_template} or
 * {@code chat_template.jinja}), rendered by Jinjava configured for Jinja2 semantics (whitespace
 * control, natural trimming), with {@link JinjaCompat} rewrites and Python string methods on
 * message contents ({@link PyStr}).
 */
public final class ChatTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    public ChatTemplate(String template, String bosToken, String eosToken, String source) {
        this.source = source;
        this.template = JinjaCompat.rewrite(template);
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        LegacyOverrides jinja2 = LegacyOverrides.newBuilder()
                .withUseTrimmingForNotesAndExpressions(true)
                .withParseWhitespaceControlStrictly(true)
                .withAllowAdjacentTextNodes(true)
                .withKeepNullableLoopValues(true)
                .withUsePyishObjectMapper(true)
                .build();
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withFailOnUnknownTokens(false).withLegacyOverrides(jinja2)
                .withTrimBlocks(false).withLstripBlocks(false).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class,
                "strftimeNow", String.class));
    }

    /** The template of a model folder, if it has one. */
    public static Optional<ChatTemplate> load(Path dir) throws IOException {
        Path cfgFile = dir.resolve("tokenizer_config.json");
        JsonNode cfg = Files.isRegularFile(cfgFile) ? JSON.readTree(cfgFile.toFile()) : JSON.createObjectNode();
        String bos = tokenText(cfg.get("bos_token")), eos = tokenText(cfg.get("eos_token"));
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) return Optional.of(new ChatTemplate(Files.readString(jinja), bos, eos, jinja.toString()));
        JsonNode t = cfg.get("chat_template");
        if (t == null || t.isNull()) return Optional.empty();
        if (t.isTextual()) return Optional.of(new ChatTemplate(t.asText(), bos, eos, cfgFile.toString()));
        if (t.isArray()) { // named templates: take "default"
            for (JsonNode n : t) {
                if ("default".equals(n.path("name").asText())) {
                    return Optional.of(new ChatTemplate(n.path("template").asText(), bos, eos, cfgFile + " (default)"));
                }
            }
        }
        throw new CheckpointFormatException(cfgFile + ": field 'chat_template' is neither a string nor a list with a 'default' entry");
    }

    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        return n.path("content").isTextual() ? n.path("content").asText() : null;
    }

    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /** Renders the conversation; {@code extra} adds template variables (e.g. {@code enable_thinking}). */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        List<Map<String, Object>> msgs = new ArrayList<>();
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", new PyStr(m.content()));
            msgs.add(map);
        }
        Map<String, Object> ctx = new HashMap<>(extra);
        ctx.put("messages", msgs);
        ctx.put("add_generation_prompt", addGenerationPrompt);
        ctx.put("bos_token", bosToken);
        ctx.put("eos_token", eosToken);
        RenderResult r = jinjava.renderForResult(template, ctx);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                Throwable root = e.getException();
                while (root != null && root.getCause() != null) root = root.getCause();
                String why = root != null && root.getMessage() != null ? root.getMessage() : e.getMessage();
                throw new IllegalArgumentException(source + ": chat template failed at line " + e.getLineno() + ": " + why);
            }
        }
        return r.getOutput();
    }

    public String bosToken() { return bosToken; }

    public String eosToken() { return eosToken; }

    /** Jinja's {@code raise_exception(message)}: a template's own refusal, e.g. of an unsupported role. */
    public static String raiseException(String message) {
        throw new IllegalArgumentException("chat template: " + message);
    }

    public static String strftimeNow(String format) {
        return LocalDate.now().format(DateTimeFormatter.ofPattern(format.replace("%d", "dd").replace("%B", "MMMM")
                .replace("%Y", "yyyy").replace("%m", "MM").replace("%b", "MMM")));
    }
}
