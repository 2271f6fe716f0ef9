namespace LoraKit.Sweep;

/// <summary>
/// The bash script a scheduler array runs: an index variable (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX)
/// picks the trial in a `case`, which runs the trial's exact command line with its events to the trial's
/// own folder and, only when it succeeded, records the hash of its inputs there (so a re-run reuses it).
/// </summary>
public static class TrialShellScript
{
    public static string Write(IReadOnlyList<ScheduledTrial> trials, string indexVariable, string workingDirectory, IEnumerable<string> headerLines)
    {
        var sb = new StringBuilder();
        sb.Append("#!/usr/bin/env bash\n");
        foreach (var line in headerLines) sb.Append(line).Append('\n');
        sb.Append("# Written by lorakit sweep: each index runs one trial's `lorakit train`; its events go to the trial's ")
          .Append(TrialFiles.EventsFileName).Append(",\n# its log (stderr) to the scheduler's log, and ")
          .Append(TrialFiles.InputsHashFileName).Append(" marks it finished.\n");
        sb.Append("set -euo pipefail\n");
        sb.Append("cd ").Append(Quote(workingDirectory)).Append('\n');
        sb.Append("case \"${").Append(indexVariable).Append(":-}\" in\n");
        foreach (var t in trials)
        {
            var dir = t.Trial.OutputDir;
            var hash = Path.Combine(dir, TrialFiles.InputsHashFileName);
            sb.Append("  ").Append(t.Trial.Index.ToString(CultureInfo.InvariantCulture)).Append(")\n");
            sb.Append("    echo ").Append(Quote($"lorakit sweep: rank {t.Trial.Rank} trial in {dir}")).Append(" >&2\n");
            sb.Append("    mkdir -p ").Append(Quote(dir)).Append('\n');
            sb.Append("    rm -f ").Append(Quote(hash)).Append('\n');
            sb.Append("    ").Append(string.Join(" ", new[] { t.FileName }.Concat(t.Arguments).Select(Quote)))
              .Append(" > ").Append(Quote(Path.Combine(dir, TrialFiles.EventsFileName))).Append('\n');
            sb.Append("    printf '%s\\n' ").Append(Quote(t.InputsHash)).Append(" > ").Append(Quote(hash + ".tmp")).Append('\n');
            sb.Append("    mv -f ").Append(Quote(hash + ".tmp")).Append(' ').Append(Quote(hash)).Append('\n');
            sb.Append("    ;;\n");
        }
        sb.Append("  *)\n    echo \"lorakit sweep: no trial for ").Append(indexVariable).Append("='${").Append(indexVariable).Append(":-}'\" >&2\n    exit 2\n    ;;\n");
        sb.Append("esac\n");
        return sb.ToString();
    }

    /// <summary>One bash word: single quotes, with each embedded quote closed, escaped and reopened.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''") + "'";
}
