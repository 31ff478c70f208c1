package dev.tina.tools.dist;

import java.util.List;

/**
 * The Java modules a distribution's runtime holds: the one list {@code tina dist} hands to
 * {@code jlink}. It is what {@code jdeps --print-module-deps} finds in the shipped jars
 * ({@code DistributionIT} checks that the two agree, so a dependency that needs another module fails
 * the build instead of a user's run). {@code jlink} adds what these require (java.xml, java.logging, …).
 */
public final class RuntimeModules {
    private RuntimeModules() {}

    public static final List<String> MODULES = List.of(
            "java.base",
            "java.compiler",      // Janino (Symja's compiler)
            "java.desktop",       // JFreeChart's charts (java.awt); loaded by the commands that draw
            "java.instrument",
            "java.net.http",
            "java.rmi",
            "java.scripting",     // Jinjava
            "java.sql",           // Jackson's java.sql types, Arrow
            "jdk.attach",
            "jdk.httpserver",     // tina serve
            "jdk.incubator.vector", // the sampler's vector passes (bin/tina adds it with --add-modules)
            "jdk.jdi",
            "jdk.management",     // peak RSS and CPU time in the benchmarks
            "jdk.unsupported");   // sun.misc.Unsafe (protobuf, Arrow, Kryo)
}
