using System.CommandLine;
using LoraKit.Sweep;

namespace LoraKit.Cli.Commands;

/// <summary>`lorakit sweep --executor local|slurm|k8s` and the scheduler options: where the trials of a sweep run.</summary>
internal sealed class ClusterOptions
{
    public readonly Option<string> Executor = new("--executor")
    {
        Description = "Where the trials run: local (processes here), slurm (one job array), k8s (one Indexed Job).",
        DefaultValueFactory = _ => "local",
    };
    public readonly Option<string?> SharedDir = new("--shared-dir") { Description = "slurm/k8s: folder every node sees, for the batch script or manifest and the logs (default: the sweep's output folder)." };
    public readonly Option<string?> Partition = new("--partition") { Description = "slurm: sbatch --partition." };
    public readonly Option<string?> Gres = new("--gres") { Description = "slurm: sbatch --gres per trial, e.g. gpu:1 (k8s: gpu:N requests nvidia.com/gpu N)." };
    public readonly Option<string?> Time = new("--time") { Description = "slurm: sbatch --time limit per trial, e.g. 02:00:00." };
    public readonly Option<string?> Account = new("--account") { Description = "slurm: sbatch --account." };
    public readonly Option<string[]> SlurmArgs = new("--slurm-arg") { Description = "slurm: one more sbatch option, passed as given (repeatable), e.g. --slurm-arg=--mem=16G.", AllowMultipleArgumentsPerToken = false };

    public readonly Option<string?> K8sImage = new("--k8s-image") { Description = "k8s: the container image; it must hold the trainer at the same paths as here (dotnet and the lorakit trainer)." };
    public readonly Option<string?> K8sPvc = new("--k8s-pvc") { Description = "k8s: the PersistentVolumeClaim of the shared folder (mounted at --shared-dir in every pod)." };
    public readonly Option<string?> K8sNamespace = new("--k8s-namespace") { Description = "k8s: the namespace of the Job (default: kubectl's)." };
    public readonly Option<bool> Apply = new("--apply") { Description = "k8s: kubectl apply the manifest and wait for the trials (default: only write it)." };

    public IEnumerable<Option> All => new Option[] { Executor, SharedDir, Partition, Gres, Time, Account, SlurmArgs, K8sImage, K8sPvc, K8sNamespace, Apply };

    /// <summary>The cluster executor asked for, or null for the local one.</summary>
    public ITrialExecutor? Create(ParseResult p, Func<TrialSpec, (string, IReadOnlyList<string>)> commandFor, string datasetHash, string outDir, int parallel)
    {
        var shared = p.GetValue(SharedDir) ?? outDir;
        switch (p.GetValue(Executor))
        {
            case "local":
                return null;
            case "slurm":
                return new SlurmTrialExecutor(commandFor, datasetHash, new SlurmOptions
                {
                    SharedDir = shared, Parallel = parallel, Partition = p.GetValue(Partition), Gres = p.GetValue(Gres), Time = p.GetValue(Time),
                    Account = p.GetValue(Account), ExtraArguments = p.GetValue(SlurmArgs) ?? Array.Empty<string>(),
                });
            case "k8s":
                return new KubernetesTrialExecutor(commandFor, datasetHash, new KubernetesOptions
                {
                    SharedDir = shared, Parallel = parallel, Gpus = KubernetesTrialExecutor.GpusFromGres(p.GetValue(Gres)),
                    Image = p.GetValue(K8sImage) ?? throw new ArgumentException("--executor k8s needs --k8s-image: the container image the trials run in"),
                    VolumeClaim = p.GetValue(K8sPvc) ?? throw new ArgumentException("--executor k8s needs --k8s-pvc: the PersistentVolumeClaim of the shared folder"),
                    Namespace = p.GetValue(K8sNamespace), Apply = p.GetValue(Apply),
                });
            case var other:
                throw new ArgumentException($"--executor {other} is not one of local, slurm, k8s");
        }
    }
}
