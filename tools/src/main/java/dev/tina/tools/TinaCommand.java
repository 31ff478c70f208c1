package dev.tina.tools;

import dev.tina.export.ToolVersion;
import dev.tina.export.checkpoint.CheckpointFormatException;
import dev.tina.tools.dist.DistCommand;
import dev.tina.training.dist.ClusterException;
import dev.tina.training.ort.TrainingNatives;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IParameterExceptionHandler;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ServiceLoader;

/** The {@code tina} command line. */
@Command(name = "tina", mixinStandardHelpOptions = true, versionProvider = TinaCommand.Version.class,
        description = "GRPO on LoRA adapters for small decoder LLMs, on ONNX Runtime.",
        subcommands = {DemoCommand.class, ExportCommand.class, GenerateCommand.class, ServeCommand.class, EvalCommand.class, GradeCommand.class, TrainCommand.class, RecipesCommand.class, BenchCommand.class, MergeCommand.class, ParityCommand.class,
                InitModelCommand.class, PretrainTinyCommand.class, DistCommand.class, CommandLine.HelpCommand.class})
public final class TinaCommand {

    public static void main(String[] args) {
        exit(run(args));
    }

    /**
     * Ends the process without Java shutdown hooks. ONNX Runtime's Java API registers one that
     * releases the native environment (and with it the logging manager) while other hooks and
     * daemon threads still run, and native teardown after it can then log through the freed
     * manager: a SIGSEGV in {@code LoggingManager::Log} seen at the end of {@code tina
     * pretrain-tiny} (ONNX Runtime issue 31352, PR 24903). Every session is closed by then (each
     * command closes what it opened), so the environment is left to the operating system with
     * the rest of the process; streams are flushed and the unpacked native libraries removed here.
     */
    static void exit(int code) {
        System.out.flush();
        System.err.flush();
        removeUnpackedNatives();
        Runtime.getRuntime().halt(code);
    }

    /** Deletes the temporary folder {@link TrainingNatives#install()} unpacked into (halt skips its delete-on-exit). */
    private static void removeUnpackedNatives() {
        String path = System.getProperty("onnxruntime.native.path");
        if (path == null) return;
        Path dir = Path.of(path);
        // only the folder install() made (a user-given path is never touched)
        if (dir.getFileName() == null || !dir.getFileName().toString().startsWith("tina-ort-training-")
                || !dir.toAbsolutePath().startsWith(Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath())) return;
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f); // mapped libraries stay loaded
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // best effort: a leftover temporary folder is harmless
        }
    }

    /** Runs the command line in-process and returns the exit code (tests call this). */
    public static int run(String... args) {
        // One native ONNX Runtime per process: the training-enabled build, installed before any
        // session exists, serves inference too.
        TrainingNatives.install();
        return commandLine().execute(args);
    }

    /** The command line with every subcommand, those of optional modules on the class path included (tests read its options). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new TinaCommand());
        // commands of optional modules on the class path (the tina-spark module's spark-cluster)
        for (PluginCommand c : ServiceLoader.load(PluginCommand.class)) cl.addSubcommand(c);
        cl.setExecutionExceptionHandler(TinaCommand::handle);
        IParameterExceptionHandler usage = cl.getParameterExceptionHandler();
        cl.setParameterExceptionHandler((ex, args) -> {
            // a value a converter refused (--device tpu) is bad input like any other: one line; a malformed command line gets the usage
            if (ex.getCause() instanceof CommandLine.TypeConversionException) {
                ex.getCommandLine().getErr().println(ex.getCommandLine().getCommandSpec().qualifiedName() + ": error: " + ex.getMessage());
                return 2;
            }
            return usage.handleParseException(ex, args);
        });
        return cl;
    }

    /**
     * Expected failures (bad input) print one line naming the file, tensor or field; anything else
     * is a bug and prints its stack trace.
     */
    private static int handle(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        String cmd = cl.getCommandSpec().qualifiedName();
        if (e instanceof CheckpointFormatException || e instanceof IllegalArgumentException
                || e instanceof FileAlreadyExistsException) {
            cl.getErr().println(cmd + ": error: " + e.getMessage());
            return 2;
        }
        if (e instanceof NoSuchFileException n) {
            cl.getErr().println(cmd + ": error: no such file: " + n.getFile());
            return 2;
        }
        if (e instanceof ClusterException) {
            cl.getErr().println(cmd + ": error: " + e.getMessage());
            return 1;
        }
        if (e instanceof IOException || e instanceof ai.onnxruntime.OrtException) {
            cl.getErr().println(cmd + ": error: " + e);
            return 1;
        }
        e.printStackTrace(cl.getErr());
        return 1;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() { return new String[]{"tina " + ToolVersion.VERSION}; }
    }
}
