package dev.tina.tools.dist;

import dev.tina.tools.TinaCommand;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "dist", mixinStandardHelpOptions = true,
        description = {"Write a self-contained distribution (its own Java runtime, jars, natives, bin/tina) and its .tar.xz: "
                + "OUT/tina-VERSION-linux-x86_64[-cuda][-slim]/. Runs from a checkout's JDK (jlink, jdeps); ./tina dist --cuda fetches "
                + "bytedeco's CUDA build of ONNX Runtime with Maven."})
public final class DistCommand implements Callable<Integer> {
    @Option(names = "--out", required = true, description = "folder to write the distribution and its archive into")
    Path out;

    @Option(names = "--cuda", description = "carry bytedeco's CUDA build of ONNX Runtime (CUDA execution provider) instead of the CPU build")
    boolean cuda;

    @Option(names = "--cuda-arch", paramLabel = "sm_NN,…", description = "keep only these GPU architectures' code in the CUDA provider (e.g. sm_90); default all")
    String cudaArch;

    @Option(names = "--cuda-natives", paramLabel = "JAR", description = "org.bytedeco:onnxruntime:1.24.1-1.5.13:linux-x86_64-gpu jar; default: the one beside the application's jars (./tina dist passes it)")
    Path cudaNatives;

    @Option(names = "--slim", description = "leave out the grader's CAS (Symja and what only it uses): parity, generate, bench, export, serve work; grade, eval, train, demo refuse")
    boolean slim;

    @Option(names = "--xz-preset", defaultValue = "6", paramLabel = "0-9", description = "xz compression preset of the archive (0 fastest; 9 saves ~3%% over 6 at twice the time); default ${DEFAULT-VALUE}")
    int xzPreset;

    @Override
    public Integer call() throws Exception {
        if ((cudaArch != null || cudaNatives != null) && !cuda) throw new IllegalArgumentException((cudaArch != null ? "--cuda-arch" : "--cuda-natives") + " needs --cuda");
        if (xzPreset < 0 || xzPreset > 9) throw new IllegalArgumentException("--xz-preset: " + xzPreset + ": expected 0 to 9");
        Set<Integer> archs = cudaArch == null ? null : FatbinPruner.parseArchs(cudaArch);
        Path appJar = applicationJar();
        Path gpuJar = null;
        if (cuda) {
            gpuJar = cudaNatives != null ? cudaNatives : findGpuJar(appJar.resolveSibling("lib"));
            if (gpuJar == null || !Files.isRegularFile(gpuJar)) {
                throw new IllegalArgumentException("--cuda needs bytedeco's CUDA build of ONNX Runtime (org.bytedeco:onnxruntime:1.24.1-1.5.13:linux-x86_64-gpu): "
                        + (gpuJar == null ? "not beside the application's jars" : gpuJar + " does not exist")
                        + "; run ./tina dist --cuda (it fetches the jar with Maven) or pass --cuda-natives JAR");
            }
        }
        Distribution.Built b = new Distribution(System.err).build(appJar, new Distribution.Options(out, gpuJar, archs, slim, xzPreset));
        if (!b.leftOut().isEmpty()) System.err.println("tina dist: --slim left out " + String.join(", ", b.leftOut()));
        System.out.printf("%s%n%s (%.1f MB)%n", b.folder(), b.archive(), Files.size(b.archive()) / 1e6);
        return 0;
    }

    private static Path findGpuJar(Path lib) throws IOException {
        if (!Files.isDirectory(lib)) return null;
        try (var s = Files.list(lib)) {
            return s.filter(p -> p.getFileName().toString().matches("onnxruntime-.*-linux-x86_64-gpu\\.jar")).findFirst().orElse(null);
        }
    }

    /** The jar this command runs from (tools/target/tina.jar, with lib/ beside it). */
    private static Path applicationJar() throws URISyntaxException {
        return Path.of(TinaCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }
}
