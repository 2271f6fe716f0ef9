using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Rules;
using LoraKit.Sweep;
using Xunit;

namespace LoraKit.Cli.Tests;

/// <summary>
/// `lorakit sweep --executor k8s` without a cluster: the Indexed Job manifest's structure, and its index →
/// trial mapping checked by doing what each pod does — running the container's command with
/// JOB_COMPLETION_INDEX set — after which the same sweep gathers the trials from their folders.
/// </summary>
public class KubernetesSweepTests
{
    [Fact]
    public void The_indexed_job_manifest_maps_each_completion_index_to_its_trial_and_a_rerun_gathers_the_results()
    {
        var (b, d, root) = TrainSweepCommandTests.Fixture();
        var outDir = Path.Combine(root, "sweep");
        var lockPath = Path.Combine(root, "lora.lock.json");
        string[] sweep =
        {
            "sweep", "--executor", "k8s", "--k8s-image", "registry.example/lorakit:1", "--k8s-pvc", "sweeps", "--k8s-namespace", "ml", "--gres", "gpu:2",
            "--base", b, "--data", d, "--out", outDir, "--lock", lockPath, "--ranks", "2,4,8", "--fraction", "0.5", "--max-steps", "3", "--lr", "1e-2",
            "--seq-len", "16", "--batch-size", "8", "--eval-every", "0", "--device", "cpu", "--pad", "--parallel", "2",
        };
        var written = CliRunner.Run(sweep);
        Assert.True(written.ExitCode == 0, written.Out + written.Err);
        var manifestPath = Path.Combine(outDir, KubernetesTrialExecutor.ManifestFileName);
        Assert.Contains($"kubectl apply -f {manifestPath}", written.Out);
        Assert.False(File.Exists(lockPath)); // nothing ran yet: no choice is made

        using var doc = JsonDocument.Parse(File.ReadAllText(manifestPath));
        var job = doc.RootElement;
        Assert.Equal("batch/v1", job.GetProperty("apiVersion").GetString());
        Assert.Equal("Job", job.GetProperty("kind").GetString());
        Assert.Equal("ml", job.GetProperty("metadata").GetProperty("namespace").GetString());
        var spec = job.GetProperty("spec");
        Assert.Equal("Indexed", spec.GetProperty("completionMode").GetString());
        Assert.Equal(3, spec.GetProperty("completions").GetInt32());
        Assert.Equal(2, spec.GetProperty("parallelism").GetInt32());
        var pod = spec.GetProperty("template").GetProperty("spec");
        Assert.Equal("Never", pod.GetProperty("restartPolicy").GetString());
        var container = Assert.Single(pod.GetProperty("containers").EnumerateArray().ToList());
        Assert.Equal("registry.example/lorakit:1", container.GetProperty("image").GetString());
        Assert.Equal(2, container.GetProperty("resources").GetProperty("limits").GetProperty("nvidia.com/gpu").GetInt32());
        var mount = Assert.Single(container.GetProperty("volumeMounts").EnumerateArray().ToList());
        var volume = Assert.Single(pod.GetProperty("volumes").EnumerateArray().ToList());
        Assert.Equal(volume.GetProperty("name").GetString(), mount.GetProperty("name").GetString());
        Assert.Equal("sweeps", volume.GetProperty("persistentVolumeClaim").GetProperty("claimName").GetString());
        Assert.Equal(Path.GetFullPath(outDir), mount.GetProperty("mountPath").GetString());
        var command = container.GetProperty("command").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(new[] { "bash", "-c" }, command[..2]);

        // Be each pod: index i must train rank-(i-th) with that rank, into that trial's folder.
        var ranks = new[] { 2, 4, 8 };
        for (var index = 0; index < 3; index++)
        {
            var psi = new ProcessStartInfo("bash") { RedirectStandardError = true }; // the trial's events go to its folder, not to stdout
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(command[2]);
            psi.Environment[KubernetesTrialExecutor.IndexVariable] = index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"index {index}: {err}");
            var done = TrialFiles.DoneEvent(Path.Combine(outDir, $"rank-{ranks[index]}"));
            Assert.NotNull(done);
            Assert.Equal(ranks[index], done!.Rank);
            Assert.True(File.Exists(Path.Combine(outDir, $"rank-{ranks[index]}", TrialFiles.InputsHashFileName)));
        }
        var unknown = new ProcessStartInfo("bash", new[] { "-c", command[2] }) { RedirectStandardError = true };
        unknown.Environment[KubernetesTrialExecutor.IndexVariable] = "3";
        using (var p = Process.Start(unknown)!)
        {
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(2, p.ExitCode);
            Assert.Contains("no trial for JOB_COMPLETION_INDEX='3'", err);
        }

        // The same sweep again: every trial is finished with the same inputs, so it chooses without a new Job.
        File.Delete(manifestPath);
        var gathered = CliRunner.Run(sweep);
        Assert.True(gathered.ExitCode == 0, gathered.Out + gathered.Err);
        Assert.False(File.Exists(manifestPath));
        foreach (var rank in ranks) Assert.Contains($"[rank {rank} trial] reusing the finished trial", gathered.Out);
        var locked = LoraLock.Parse(File.ReadAllText(lockPath), lockPath).Find("adapter");
        Assert.NotNull(locked);
        Assert.True(File.Exists(Path.Combine(outDir, SweepRunner.ReportFileName)));
    }

    [Fact]
    public void Gres_becomes_a_gpu_count_and_a_trial_outside_the_shared_folder_is_refused()
    {
        Assert.Equal(0, KubernetesTrialExecutor.GpusFromGres(null));
        Assert.Equal(1, KubernetesTrialExecutor.GpusFromGres("gpu"));
        Assert.Equal(2, KubernetesTrialExecutor.GpusFromGres("gpu:2"));
        Assert.Equal(4, KubernetesTrialExecutor.GpusFromGres("gpu:a100:4"));
        Assert.Throws<ArgumentException>(() => KubernetesTrialExecutor.GpusFromGres("mps:50"));

        var trial = new TrialSpec(0, 4, 8, "/elsewhere/rank-4", new[] { "q_proj" }, 0, new Training.TrainingOptions());
        var e = Assert.Throws<ArgumentException>(() => KubernetesTrialExecutor.Manifest(
            new[] { new ScheduledTrial(trial, "dotnet", new[] { "train" }, new string('a', 64)) },
            new KubernetesOptions { SharedDir = "/shared", VolumeClaim = "c", Image = "i" }, "/"));
        Assert.Contains("outside the shared folder /shared", e.Message);
    }
}
