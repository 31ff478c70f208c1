package dev.tina.tools;

import dev.tina.runtime.SessionSettings.Device;
import picocli.CommandLine;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.stream.Collectors;

/**
 * {@code --device}, parsed by {@link Device#parse} (so {@code gpu} and {@code trt} work, in any case; the
 * converter sits on the option, so a command line built around one command alone parses it too). Commands that support fewer devices say so through {@link #only}.
 */
final class DeviceOption {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE", converter = Parse.class,
            description = "cpu, cuda or tensorrt (GPU paths need a -Pgpu build: docs/gpu.md); default ${DEFAULT-VALUE}")
    Device device;

    Device get() { return device; }

    static final class Parse implements ITypeConverter<Device> {
        @Override
        public Device convert(String value) {
            try {
                return Device.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** The device, or a one-line error naming the devices this command runs on. */
    Device only(String command, Device... supported) {
        if (EnumSet.copyOf(Arrays.asList(supported)).contains(device)) return device;
        throw new IllegalArgumentException(command + " runs on " + Arrays.stream(supported).map(Device::cli).collect(Collectors.joining(" or "))
                + ", not --device " + device.cli());
    }
}
