package dev.tina.runtime.sampling;

import ai.onnxruntime.OrtException;
import dev.tina.export.ModelDescriptor;

/** What every decoding engine tells {@link BatchSampler}: the model and a name for reports. */
public sealed interface Engine extends AutoCloseable permits DecoderBackend, SlotBackend {
    ModelDescriptor descriptor();

    /** Short name for reports ("onnxruntime-cpu", "tensorrt-fp16", …). */
    String name();

    @Override
    void close() throws OrtException;
}
