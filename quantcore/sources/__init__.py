"""Where inventories come from: safetensors/GGUF headers, the Hugging Face Hub and its cache, bundled configs."""
