using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LoraKit.IO;
using LoraKit.Rules;
using LoraKit.Run;
using LoraKit.Training;

namespace LoraKit.Sweep;

/// <summary>How a sweep runs as a Kubernetes Indexed Job.</summary>
public sealed record KubernetesOptions
{
    /// <summary>The folder on the shared volume: the manifest goes here and the volume is mounted here in every pod, so the trials' folders must lie under it.</summary>
    public required string SharedDir { get; init; }

    /// <summary>The PersistentVolumeClaim holding the shared folder (ReadWriteMany for parallel pods on several nodes).</summary>
    public required string VolumeClaim { get; init; }

    /// <summary>The container image: it must hold the trainer (`dotnet` and LoraKit.Cli.dll) at the paths of the trials' command lines.</summary>
    public required string Image { get; init; }

    public string? Namespace { get; init; }
    public int Parallel { get; init; } = 1;

    /// <summary>GPUs per trial, requested as nvidia.com/gpu (0 = none).</summary>
    public int Gpus { get; init; }

    public string JobName { get; init; } = "lorakit-sweep";

    /// <summary>Run `kubectl apply -f` on the manifest and wait for the trials; otherwise only write it.</summary>
    public bool Apply { get; init; }

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Thrown when the manifest was written but not applied: the sweep continues when run again after the Job has run.</summary>
public sealed class TrialsSubmittedElsewhereException : Exception
{
    public TrialsSubmittedElsewhereException(string message) : base(message)
    {
    }
}

/// <summary>
/// Runs a sweep's trials as ONE Kubernetes Indexed Job (completionMode Indexed): pod i runs the trial that
/// JOB_COMPLETION_INDEX = i picks in the same bash `case` as a Slurm array's, on the shared volume. The
/// manifest is JSON (kubectl accepts it, and it parses exactly). With <see cref="KubernetesOptions.Apply"/>
/// it is applied with kubectl and the trials' results are read from their folders as they finish;
/// without, it is written only, and running the sweep again after the Job ran gathers them (finished trials are reused).
/// </summary>
public sealed class KubernetesTrialExecutor : ScheduledTrialExecutor
{
    public const string ManifestFileName = "lorakit-sweep.k8s.json";
    public const string IndexVariable = "JOB_COMPLETION_INDEX";

    private readonly KubernetesOptions _options;

    public KubernetesTrialExecutor(Func<TrialSpec, (string FileName, IReadOnlyList<string> Arguments)> commandFor, string datasetHash, KubernetesOptions options)
        : base(commandFor, datasetHash, options.Parallel)
    {
        _options = options;
    }

    /// <summary>Writes the Indexed Job manifest of the pending trials; with --apply applies it and waits for their results.</summary>
    private protected override void RunPending(IReadOnlyList<ScheduledTrial> pending, TrialResult?[] results, Action<TrainingEvent> events, CancellationToken ct)
    {
        var shared = Path.GetFullPath(_options.SharedDir);
        var path = Path.Combine(shared, ManifestFileName);
        var manifest = Manifest(pending, _options, Directory.GetCurrentDirectory());
        AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        var name = manifest["metadata"]!["name"]!.GetValue<string>();
        if (!_options.Apply)
            throw new TrialsSubmittedElsewhereException(
                $"wrote the Indexed Job manifest {path} ({pending.Count} trials); apply it with `kubectl apply -f {path}` (or pass --apply), " +
                "then run this sweep again once the Job completed: the finished trials are read from their folders, not run again");
        Kubectl("apply", "-f", path);
        events(new SchedulerEvent("kubernetes", name, null, $"applied Kubernetes Indexed Job {name} ({path})"));
        Wait(pending, name, results, events, ct);
    }

    /// <summary>Polls the trials' folders for their results and the Job's status for failed indexes.</summary>
    private void Wait(IReadOnlyList<ScheduledTrial> pending, string name, TrialResult?[] results, Action<TrainingEvent> events, CancellationToken ct)
    {
        var open = pending.Select((t, i) => (t, i)).ToList();
        while (open.Count > 0)
        {
            foreach (var (t, i) in open.ToList())
                if (TrialFiles.Finished(t.Trial, t.InputsHash) is { } r)
                {
                    results[t.Trial.Index] = r;
                    events(ScheduledTrials.Done(t.Trial));
                    open.Remove((t, i));
                }
            if (open.Count == 0) break;
            var status = JsonNode.Parse(Kubectl(NamespaceArgs(new[] { "get", "job", name, "-o", "json" })))?["status"];
            var failed = status?["failedIndexes"]?.GetValue<string>();
            if (status?["failed"]?.GetValue<int>() > 0 || !string.IsNullOrEmpty(failed))
                throw new TrainingException(DiagnosticIds.TrainingFailed,
                    $"the Kubernetes Job {name} has failed pods (failed indexes {failed ?? "?"}; index i is the i-th trial not yet finished: " +
                    $"{string.Join(", ", open.Select(o => $"{o.i} = rank {o.t.Trial.Rank}"))}); see `kubectl logs job/{name}` and each trial's {TrialFiles.EventsFileName}");
            if (ct.WaitHandle.WaitOne(_options.PollInterval))
            {
                Kubectl(NamespaceArgs(new[] { "delete", "job", name, "--wait=false" }));
                ct.ThrowIfCancellationRequested();
            }
        }
    }

    private string[] NamespaceArgs(string[] args) => _options.Namespace is { } ns ? args.Concat(new[] { "-n", ns }).ToArray() : args;

    /// <summary>
    /// The Indexed Job: completions = trials to run, parallelism = --parallel, one attempt per index (a
    /// failed trial is reported, not retried blindly), the shared volume mounted at the same path, and the
    /// bash `case` on JOB_COMPLETION_INDEX (index i = the i-th trial to run).
    /// </summary>
    public static JsonObject Manifest(IReadOnlyList<ScheduledTrial> pending, KubernetesOptions o, string workingDirectory)
    {
        var shared = Path.GetFullPath(o.SharedDir);
        foreach (var t in pending)
        {
            var dir = Path.GetFullPath(t.Trial.OutputDir);
            if (!dir.StartsWith(shared.TrimEnd('/') + "/", StringComparison.Ordinal))
                throw new ArgumentException($"the rank {t.Trial.Rank} trial writes to {dir}, outside the shared folder {shared} that the pods mount; put the sweep's --out under --shared-dir");
        }
        var indexed = pending.Select((t, i) => t with { Trial = t.Trial with { Index = i } }).ToList();
        var script = TrialShellScript.Write(indexed, IndexVariable, workingDirectory, Array.Empty<string>());
        var name = $"{o.JobName}-{pending[0].InputsHash.Substring(0, 10)}";
        var container = new JsonObject
        {
            ["name"] = "trial",
            ["image"] = o.Image,
            ["command"] = new JsonArray("bash", "-c", script),
            ["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = "shared", ["mountPath"] = shared }),
        };
        if (o.Gpus > 0)
            container["resources"] = new JsonObject { ["limits"] = new JsonObject { ["nvidia.com/gpu"] = o.Gpus } };
        var metadata = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["app.kubernetes.io/name"] = "lorakit-sweep" } };
        if (o.Namespace is { } ns) metadata["namespace"] = ns;
        return new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "Job",
            ["metadata"] = metadata,
            ["spec"] = new JsonObject
            {
                ["completionMode"] = "Indexed",
                ["completions"] = pending.Count,
                ["parallelism"] = Math.Min(o.Parallel, pending.Count),
                ["backoffLimit"] = 0,
                ["template"] = new JsonObject
                {
                    ["spec"] = new JsonObject
                    {
                        ["restartPolicy"] = "Never",
                        ["containers"] = new JsonArray(container),
                        ["volumes"] = new JsonArray(new JsonObject
                        {
                            ["name"] = "shared", ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = o.VolumeClaim },
                        }),
                    },
                },
            },
        };
    }

    /// <summary>GPUs per trial from a Slurm-style --gres (gpu:2, gpu:a100:2; gpu = 1), 0 without one.</summary>
    public static int GpusFromGres(string? gres)
    {
        if (string.IsNullOrWhiteSpace(gres)) return 0;
        var m = Regex.Match(gres, "^gpu(?::[A-Za-z][A-Za-z0-9_-]*)?(?::([0-9]+))?$");
        if (!m.Success) throw new ArgumentException($"--gres {gres}: for k8s give gpu or gpu:N (N GPUs per trial, requested as nvidia.com/gpu)");
        return m.Groups[1].Success ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 1;
    }

    private static string Kubectl(params string[] args) =>
        ScheduledTrials.RunTool("kubectl", args, "install kubectl and point it at the cluster, or leave out --apply and apply the manifest yourself");
}
