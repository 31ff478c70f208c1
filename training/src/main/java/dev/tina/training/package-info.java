/**
 * GRPO and SFT on LoRA adapters with ONNX Runtime training. Not built yet: see the
 * issues "ONNX Runtime training" and "GRPO trainer".
 */
package dev.tina.training;
