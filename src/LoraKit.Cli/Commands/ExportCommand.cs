using System.CommandLine;
using LoraKit.Peft;
using LoraKit.Rules;

namespace LoraKit.Cli.Commands;

/// <summary>
/// `lorakit export accelerate &lt;adapter&gt;`: the hand-off for a single run that needs more than one GPU
/// (TorchSharp has no NCCL/DDP): from a checked adapter, the PEFT LoraConfig (as PEFT's own
/// adapter_config.json), a minimal transformers + PEFT + accelerate training script reading the same
/// JSONL data, and an accelerate config for several GPUs / machines. The script saves with PEFT's
/// save_pretrained, the format `lorakit inspect` and LoraKit's loader read back.
/// </summary>
internal static class ExportCommand
{
    public const string ConfigFolder = "peft_config";
    public const string ScriptFileName = "train_lora.py";
    public const string AccelerateFileName = "accelerate_config.yaml";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var folder = new Argument<string>("adapter") { Description = "The PEFT adapter folder whose LoRA settings the run uses (adapter_config.json)." };
        var output = new Option<string>("--out") { Description = "Folder to write into (must be empty or new).", DefaultValueFactory = _ => "accelerate-run" };
        var processes = new Option<int>("--processes") { Description = "GPUs in all (accelerate num_processes).", DefaultValueFactory = _ => 2 };
        var machines = new Option<int>("--machines") { Description = "Machines (accelerate num_machines).", DefaultValueFactory = _ => 1 };
        var mainIp = new Option<string?>("--main-ip") { Description = "Address of machine 0 (needed with --machines > 1)." };
        var port = new Option<int>("--port") { Description = "Rendezvous port on machine 0.", DefaultValueFactory = _ => 29500 };
        var precision = new Option<string>("--mixed-precision") { Description = "no, fp16 or bf16.", DefaultValueFactory = _ => "bf16" };
        var accelerate = new Command("accelerate", "Write a PEFT config, a transformers + PEFT training script and an accelerate config for a multi-GPU run.")
        {
            folder, output, processes, machines, mainIp, port, precision,
        };
        accelerate.SetAction(p =>
        {
            try
            {
                var path = Path.Combine(p.GetValue(folder)!, PeftAdapterConfig.FileName);
                var config = PeftAdapterConfig.Load(path);
                var lora = new LoraConfig { Rank = config.R, Alpha = config.LoraAlpha, Dropout = config.LoraDropout, UseRsLora = config.UseRsLora };
                var name = Path.GetFileName(Path.GetFullPath(p.GetValue(folder)!).TrimEnd(Path.DirectorySeparatorChar));
                var findings = new[]
                {
                    LoraRuleChecker.CheckRank(config.R, LoraThresholds.Default, name),
                    LoraRuleChecker.CheckAlphaRatio(lora, LoraThresholds.Default, name),
                    LoraRuleChecker.CheckDropout(config.LoraDropout, LoraThresholds.Default, name),
                }.Where(f => f is not null).Select(f => f!).ToList();
                foreach (var f in findings) stdout.WriteLine(f.ToString());
                if (findings.Any(f => f.Severity == RuleSeverity.Error))
                {
                    stderr.WriteLine($"error: {path} fails LoraKit's checks (above); fix the adapter's settings before a large run");
                    return ExitCodes.RuleError;
                }
                var (nProcesses, nMachines) = (p.GetValue(processes), p.GetValue(machines));
                if (nProcesses < 1 || nMachines < 1 || nProcesses % nMachines != 0)
                    throw new ArgumentException($"--processes {nProcesses} --machines {nMachines}: give at least one of each, the same number of GPUs on every machine (processes a multiple of machines)");
                if (nMachines > 1 && p.GetValue(mainIp) is null)
                    throw new ArgumentException("--machines > 1 needs --main-ip, the address of machine 0 (accelerate main_process_ip)");
                if (p.GetValue(precision) is not ("no" or "fp16" or "bf16"))
                    throw new ArgumentException($"--mixed-precision {p.GetValue(precision)} is not one of no, fp16, bf16");

                var outDir = p.GetValue(output)!;
                if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
                    throw new IOException($"{Path.GetFullPath(outDir)} is not empty; export never overwrites: give a new --out");
                // The LoraConfig as PEFT itself stores it (LoraConfig.from_pretrained reads the folder), minus
                // the base it was trained on: the script takes the base as an argument.
                config.BaseModelNameOrPath = null;
                config.TaskType = "CAUSAL_LM";
                config.InferenceMode = false;
                config.Save(Path.Combine(outDir, ConfigFolder, PeftAdapterConfig.FileName));
                File.WriteAllText(Path.Combine(outDir, ScriptFileName), Script); // a new, empty folder: nothing of the user's is replaced
                var yaml = AccelerateConfig(nProcesses, nMachines, p.GetValue(mainIp), p.GetValue(port), p.GetValue(precision)!);
                File.WriteAllText(Path.Combine(outDir, AccelerateFileName), yaml);
                stdout.WriteLine($"wrote {Path.GetFullPath(outDir)}: {ConfigFolder}/{PeftAdapterConfig.FileName}, {ScriptFileName}, {AccelerateFileName}");
                stdout.WriteLine($"run on each machine: accelerate launch --config_file {AccelerateFileName}{(nMachines > 1 ? " --machine_rank <0…" + (nMachines - 1).ToString(CultureInfo.InvariantCulture) + ">" : "")} " +
                                 $"{ScriptFileName} --base <hf model> --data <data.jsonl> --out adapter");
                stdout.WriteLine($"then: lorakit inspect adapter");
                return ExitCodes.Ok;
            }
            catch (Exception e) when (e is PeftFormatException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"error: {e.Message}");
                return ExitCodes.BadInput;
            }
        });
        return new Command("export", "Hand a run or a model to another engine: accelerate (multi-GPU training), gguf (llama.cpp), ollama.")
        {
            accelerate, GgufCommands.Gguf(stdout, stderr), GgufCommands.Ollama(stdout, stderr),
        };
    }

    /// <summary>accelerate's config file (the keys `accelerate config` writes for multi-GPU / multi-node).</summary>
    internal static string AccelerateConfig(int processes, int machines, string? mainIp, int port, string precision)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# Written by lorakit export accelerate. On machine k of ").Append(machines.ToString(inv)).Append(": accelerate launch --config_file accelerate_config.yaml --machine_rank k train_lora.py …\n");
        sb.Append("compute_environment: LOCAL_MACHINE\n");
        sb.Append("distributed_type: ").Append(processes > 1 ? "MULTI_GPU" : "'NO'").Append('\n');
        sb.Append("num_machines: ").Append(machines.ToString(inv)).Append('\n');
        sb.Append("num_processes: ").Append(processes.ToString(inv)).Append('\n');
        sb.Append("machine_rank: 0\n");
        if (machines > 1)
        {
            sb.Append("main_process_ip: ").Append(mainIp).Append('\n');
            sb.Append("main_process_port: ").Append(port.ToString(inv)).Append('\n');
            sb.Append("rdzv_backend: static\n");
            sb.Append("same_network: true\n");
        }
        sb.Append("gpu_ids: all\n");
        sb.Append("mixed_precision: ").Append(precision == "no" ? "'no'" : precision).Append('\n');
        sb.Append("downcast_bf16: 'no'\n");
        sb.Append("main_training_function: main\n");
        sb.Append("use_cpu: false\n");
        sb.Append("tpu_env: []\n");
        return sb.ToString();
    }

    /// <summary>
    /// The training script: LoraKit's data rules (JSONL of {"text"} or {"prompt","completion"}; loss on every
    /// token of a text, on the completion and its eos only for a prompt/completion; eos after each example)
    /// and its defaults (AdamW, warmup then cosine, gradient clipping at 1.0).
    /// </summary>
    internal const string Script = """
        # Written by lorakit export accelerate: a LoRA run with transformers + PEFT on several GPUs.
        #   accelerate launch --config_file accelerate_config.yaml train_lora.py --base <hf model> --data data.jsonl --out adapter
        # The adapter is saved with PEFT's save_pretrained (adapter_config.json + adapter_model.safetensors),
        # which `lorakit inspect adapter` and LoraKit read back.
        import argparse
        import json
        import math
        import os

        import torch
        from accelerate import Accelerator
        from peft import LoraConfig, get_peft_model
        from torch.utils.data import DataLoader
        from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_schedule_with_warmup


        def read_examples(path, tokenizer, seq_len):
            rows = []
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    if "text" in record:
                        prompt, target = [], tokenizer(record["text"], add_special_tokens=False)["input_ids"]
                    elif "prompt" in record and "completion" in record:
                        prompt = tokenizer(record["prompt"], add_special_tokens=False)["input_ids"]
                        target = tokenizer(record["completion"], add_special_tokens=False)["input_ids"]
                    else:
                        raise SystemExit(f"{path}:{number}: expected {{\"text\"}} or {{\"prompt\", \"completion\"}}")
                    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
                    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
                    ids = (bos + prompt + target + eos)[:seq_len]
                    labels = ([-100] * (len(bos) + len(prompt)) + target + eos)[:seq_len]
                    rows.append((ids, labels))
            return rows


        def collate(batch, pad_id):
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (row_ids, row_labels) in enumerate(batch):
                ids[i, : len(row_ids)] = torch.tensor(row_ids)
                labels[i, : len(row_labels)] = torch.tensor(row_labels)
                mask[i, : len(row_ids)] = 1
            return {"input_ids": ids, "labels": labels, "attention_mask": mask}


        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--base", required=True, help="Hugging Face model name or folder")
            parser.add_argument("--data", required=True, help="JSONL of {\"text\"} or {\"prompt\", \"completion\"} lines")
            parser.add_argument("--out", default="adapter")
            parser.add_argument("--epochs", type=int, default=1)
            parser.add_argument("--lr", type=float, default=2e-4)
            parser.add_argument("--batch-size", type=int, default=8, help="per GPU")
            parser.add_argument("--seq-len", type=int, default=512)
            parser.add_argument("--warmup", type=float, default=0.05)
            parser.add_argument("--seed", type=int, default=42)
            args = parser.parse_args()

            accelerator = Accelerator()
            torch.manual_seed(args.seed)
            tokenizer = AutoTokenizer.from_pretrained(args.base)
            pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
            model = AutoModelForCausalLM.from_pretrained(args.base)
            config = LoraConfig.from_pretrained(os.path.join(os.path.dirname(os.path.abspath(__file__)), "peft_config"))
            model = get_peft_model(model, config)
            accelerator.print(f"LoRA r={config.r}, alpha={config.lora_alpha}, targets {config.target_modules}")
            model.print_trainable_parameters()

            rows = read_examples(args.data, tokenizer, args.seq_len)
            loader = DataLoader(rows, batch_size=args.batch_size, shuffle=True, collate_fn=lambda b: collate(b, pad_id))
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
            steps = args.epochs * math.ceil(len(loader) / accelerator.num_processes)
            schedule = get_cosine_schedule_with_warmup(optimizer, int(args.warmup * steps), steps)
            model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)

            model.train()
            for epoch in range(args.epochs):
                for step, batch in enumerate(loader):
                    loss = model(**batch).loss
                    accelerator.backward(loss)
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    schedule.step()
                    optimizer.zero_grad()
                    if step % 10 == 0:
                        accelerator.print(f"epoch {epoch} step {step}: loss {loss.item():.4f}")

            accelerator.wait_for_everyone()
            accelerator.unwrap_model(model).save_pretrained(
                args.out, is_main_process=accelerator.is_main_process, save_function=accelerator.save
            )
            accelerator.print(f"adapter written to {args.out}; check it with: lorakit inspect {args.out}")


        if __name__ == "__main__":
            main()

        """;
}
