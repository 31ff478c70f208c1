package dev.tina.spark;

import dev.tina.testsupport.Shared;

import dev.tina.tools.TinaCommand;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@code tina} command line shown in the README and {@code docs/} names a subcommand and
 * options that exist, so the documents cannot drift from the command line. Lives in the Spark
 * module because only here are all commands on the class path (the optional module's
 * {@code spark-cluster} included).
 */
class DocumentedCommandsTest {
    static final Path REPO = Shared.REPO;
    /** A command as written: "tina" or "./tina" then what follows, up to the end of the code span or shell command. */
    static final Pattern INLINE = Pattern.compile("`(?:\\./)?tina ([^`]+)`");
    static final Pattern OPTION = Pattern.compile("(?<![\\w-])(--[a-z][a-z0-9-]*)");

    record Use(String where, String text) {}

    @Test
    void everyDocumentedCommandAndOptionExists() throws IOException {
        List<Path> docs = new ArrayList<>(List.of(REPO.resolve("README.md")));
        try (Stream<Path> s = Files.walk(REPO.resolve("docs"))) {
            s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(docs::add);
        }
        List<Use> uses = new ArrayList<>();
        for (Path doc : docs) uses.addAll(uses(doc));
        assertTrue(uses.size() > 20, "found " + uses.size() + " command lines: the parser is broken");
        CommandLine root = TinaCommand.commandLine();
        List<String> problems = new ArrayList<>();
        for (Use u : uses) {
            String[] first = u.text().trim().split("\\s+", 2);
            // "tina train: error: …" is output, "tina … --spark" and "tina COMMAND" any command; "train|eval" names each
            if (first[0].endsWith(":") || first[0].equals("…") || first[0].matches("[A-Z_]+")) continue; // COMMAND: a placeholder
            for (String sub : first[0].split("\\|")) check(root, u, (sub + " " + (first.length > 1 ? first[1] : "")).trim().split("\\s+"), problems);
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    static void check(CommandLine root, Use u, String[] words, List<String> problems) {
        {
            CommandLine cmd = root;
            int i = 0;
            while (i < words.length && cmd.getSubcommands().containsKey(words[i])) cmd = cmd.getSubcommands().get(words[i++]);
            if (cmd == root) {
                if (!words[0].startsWith("-")) problems.add(u.where() + ": no subcommand '" + words[0] + "' in: tina " + u.text());
                return;
            }
            Matcher m = OPTION.matcher(String.join(" ", List.of(words).subList(i, words.length)));
            while (m.find()) {
                if (cmd.getCommandSpec().findOption(m.group(1)) == null) {
                    problems.add(u.where() + ": " + cmd.getCommandSpec().qualifiedName() + " has no option " + m.group(1) + " (in: tina " + u.text() + ")");
                }
            }
        }
    }

    /** Command lines in a Markdown file: inline code spans, and lines of fenced shell blocks (continuations joined). */
    static List<Use> uses(Path doc) throws IOException {
        List<Use> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(doc);
        boolean fenced = false;
        String shell = null;
        for (int n = 0; n < lines.size(); n++) {
            String line = lines.get(n), where = REPO.relativize(doc) + ":" + (n + 1);
            if (line.startsWith("```")) {
                fenced = !fenced && (line.equals("```") || line.startsWith("```bash") || line.startsWith("```sh"));
                continue;
            }
            if (fenced) {
                shell = shell == null ? line : shell + " " + line.trim();
                if (shell.endsWith("\\")) {
                    shell = shell.substring(0, shell.length() - 1);
                    continue;
                }
                for (String command : shell.replaceAll("#.*$", "").split("\\s(?:\\||&&|;|&)\\s?")) {
                    Matcher m = Pattern.compile("(?:^|\\s)(?:\\./|bin/)?tina\\s+(.+)").matcher(command);
                    if (m.find()) out.add(new Use(where, m.group(1)));
                }
                shell = null;
            } else {
                Matcher m = INLINE.matcher(line);
                while (m.find()) out.add(new Use(where, m.group(1).replace("\\|", "|")));
            }
        }
        return out;
    }
}
