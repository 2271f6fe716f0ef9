using System.Text.RegularExpressions;

namespace LoraKit.Data;

/// <summary>
/// LoraKit's builtin datasets, generated in plain C# (no download), the same on every machine for a given
/// size and seed. ASCII only, so the <see cref="ByteTokenizer"/> spends one token per character.
/// <list type="bullet">
/// <item><c>builtin:pretrain</c> — <see cref="PretrainCorpus"/>: short English sentences about everyday objects,
/// people and places (text examples), to pretrain the tiny builtin base briefly. It has no digit and no month name.</item>
/// <item><c>builtin:adapt</c> (also plain <c>builtin</c>) — <see cref="AdaptationTask"/>: ISO dates to English long
/// form, <c>"date: 2024-03-07\n"</c> → <c>"7 March 2024"</c> (prompt/completion examples).</item>
/// </list>
/// Why date reformatting for the adaptation task: the completion is fully determined by the prompt (so the loss can
/// fall towards zero, and accuracy is exact match against <see cref="ExpectedCompletion"/>); it is a real domain shift
/// (the base never saw a digit, a month name or this format during pretraining, so its loss on the completion is high);
/// and it is learnable in minutes by a tiny model because the structure is local and mostly positional: the prompt has a
/// fixed layout, the day and year are copied from fixed offsets, the month name is a 12-way lookup of two digits and the
/// rest of the name follows from its first letters. Even a partly learned rule (month names and the year's century right,
/// digits uncertain) lowers the completion loss far below the base's, which leaves margin for the ≥ 30 % target.
/// Completions are 10–17 bytes; prompts 17 bytes; a whole example is under 40 byte tokens.
/// Dates are distinct (drawn without replacement from 1950-01-01 … 2049-12-31), so no example repeats.
/// </summary>
public static class BuiltinData
{
    public const string Prefix = "builtin";
    public const string PretrainName = "builtin:pretrain";
    public const string AdaptName = "builtin:adapt";
    public const int DefaultPretrainExamples = 4000;
    public const int DefaultAdaptExamples = 4000;
    public const long DefaultSeed = 0;

    /// <summary>The builtin dataset names, for help texts and errors.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { AdaptName, PretrainName };

    private static readonly DateTime FirstDate = new(1950, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime LastDate = new(2049, 12, 31, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Number of distinct dates the adaptation task draws from (the most examples it can make).</summary>
    public static int AdaptationCapacity => (int)(LastDate - FirstDate).TotalDays + 1;

    private static readonly string[] Months =
    {
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    };

    private static readonly Regex PromptPattern = new(@"^date: (\d{4})-(\d{2})-(\d{2})\n$", RegexOptions.CultureInvariant);

    /// <summary>The adaptation task's prompt for a date.</summary>
    public static string AdaptationPrompt(int year, int month, int day) =>
        $"date: {year:D4}-{month:D2}-{day:D2}\n";

    /// <summary>
    /// The rule: the completion a prompt of the adaptation task must get (day without leading zero, English month
    /// name, four-digit year), or null when <paramref name="prompt"/> is not one of its prompts. For exact-match accuracy.
    /// </summary>
    public static string? ExpectedCompletion(string prompt)
    {
        if (prompt is null) return null;
        var m = PromptPattern.Match(prompt);
        if (!m.Success) return null;
        int y = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
            mo = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
            d = int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        if (mo is < 1 or > 12 || d < 1 || d > DateTime.DaysInMonth(y, mo)) return null;
        return $"{d} {Months[mo - 1]} {y:D4}";
    }

    /// <summary><paramref name="examples"/> distinct date-reformatting examples, deterministic in <paramref name="seed"/>.</summary>
    public static Dataset AdaptationTask(int examples = DefaultAdaptExamples, long seed = DefaultSeed)
    {
        if (examples < 1 || examples > AdaptationCapacity)
            throw new ArgumentOutOfRangeException(nameof(examples), examples, $"must be in 1…{AdaptationCapacity}");
        var rng = new StableRandom(unchecked(seed * 31 + 0xADA7));
        // Partial Fisher–Yates over day indices: distinct dates, O(capacity) memory, deterministic.
        var days = new int[AdaptationCapacity];
        for (var i = 0; i < days.Length; i++) days[i] = i;
        var list = new List<Example>(examples);
        for (var i = 0; i < examples; i++)
        {
            var j = i + rng.Next(days.Length - i);
            (days[i], days[j]) = (days[j], days[i]);
            var date = FirstDate.AddDays(days[i]);
            var prompt = AdaptationPrompt(date.Year, date.Month, date.Day);
            list.Add(Example.FromPromptCompletion(prompt, ExpectedCompletion(prompt)!));
        }
        return new Dataset(SpecName(AdaptName, examples, seed, DefaultAdaptExamples), list);
    }

    private static readonly string[] Names1 = { "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jack", "Lucy", "Max", "Nora", "Oscar", "Paul", "Rosa", "Sam", "Tom", "Vera", "Will" };
    private static readonly string[] Nouns = { "cup", "book", "chair", "lamp", "box", "bag", "key", "coat", "hat", "ball", "plate", "spoon", "clock", "pen", "shoe", "bottle", "blanket", "pillow", "basket", "bike", "door", "window", "table", "kettle", "brush", "mirror", "candle", "jar", "towel", "umbrella", "ladder", "rope", "bucket", "kite", "drum", "phone", "wallet", "glove", "scarf", "radio" };
    private static readonly string[] Adjectives = { "red", "blue", "green", "small", "big", "old", "new", "soft", "heavy", "light", "warm", "cold", "clean", "dirty", "round", "tall", "short", "shiny", "quiet", "bright", "dark", "yellow", "wooden", "broken", "empty", "full", "little", "long", "smooth", "rough" };
    private static readonly string[] Places = { "table", "shelf", "floor", "bed", "desk", "box", "sofa", "kitchen", "garden", "hall", "car", "window", "door", "bench", "counter", "porch", "cupboard", "drawer" };
    private static readonly string[] Prepositions = { "on", "under", "near", "behind", "beside", "in", "by", "above" };
    private static readonly string[] VerbsPast = { "found", "moved", "cleaned", "bought", "painted", "carried", "dropped", "fixed", "opened", "washed", "lost", "saw", "picked up", "put away", "gave away", "borrowed" };
    private static readonly string[] VerbsBase = { "play", "read", "work", "sit", "walk", "cook", "draw", "sing", "rest", "talk" };
    private static readonly string[] Times = { "in the morning", "after lunch", "at night", "yesterday", "every day", "last week", "on the weekend", "before dinner", "this evening", "early today" };
    private static readonly string[] Feelings = { "happy", "tired", "calm", "busy", "glad", "sleepy", "proud", "curious" };

    /// <summary>
    /// <paramref name="examples"/> text examples of one to three templated English sentences each (everyday objects,
    /// people, places, times), deterministic in <paramref name="seed"/>. No digits, no month names.
    /// </summary>
    public static Dataset PretrainCorpus(int examples = DefaultPretrainExamples, long seed = DefaultSeed)
    {
        if (examples < 1) throw new ArgumentOutOfRangeException(nameof(examples), examples, "must be ≥ 1");
        var rng = new StableRandom(unchecked(seed * 31 + 0x9E7));
        var list = new List<Example>(examples);
        for (var i = 0; i < examples; i++)
        {
            var n = 1 + rng.Next(3);
            var sentences = new string[n];
            for (var k = 0; k < n; k++) sentences[k] = Sentence(rng);
            list.Add(Example.FromText(string.Join(" ", sentences)));
        }
        return new Dataset(SpecName(PretrainName, examples, seed, DefaultPretrainExamples), list);
    }

    private static string Sentence(StableRandom r)
    {
        string Name() => r.Pick(Names1);
        string Noun() => r.Pick(Nouns);
        string Adj() => r.Pick(Adjectives);
        switch (r.Next(9))
        {
            case 0: return $"The {Adj()} {Noun()} is {r.Pick(Prepositions)} the {r.Pick(Places)}.";
            case 1: return $"{Name()} {r.Pick(VerbsPast)} the {Adj()} {Noun()} {r.Pick(Times)}.";
            case 2: return $"A {Noun()} can be {Adj()} or {Adj()}.";
            case 3: return $"{Name()} likes to {r.Pick(VerbsBase)} with a {Adj()} {Noun()}.";
            case 4: return $"There is a {Adj()} {Noun()} next to the {Noun()}.";
            case 5:
            {
                var noun = Noun();
                return $"Where is the {noun}? It is {r.Pick(Prepositions)} the {r.Pick(Places)}.";
            }
            case 6: return $"{Name()} and {Name()} {r.Pick(VerbsPast)} a {Noun()} {r.Pick(Times)}.";
            case 7: return $"{Name()} felt {r.Pick(Feelings)} and sat {r.Pick(Prepositions)} the {r.Pick(Places)}.";
            default: return $"Please put the {Adj()} {Noun()} {r.Pick(Prepositions)} the {r.Pick(Places)}.";
        }
    }

    private static string SpecName(string name, int examples, long seed, int defaultExamples) =>
        examples == defaultExamples && seed == DefaultSeed ? name : $"{name}?examples={examples}&seed={seed}";

    /// <summary>
    /// Resolves a builtin dataset spec: <c>builtin</c> or <c>builtin:adapt</c>, <c>builtin:pretrain</c>, each optionally
    /// followed by <c>?examples=N&amp;seed=S</c>. Returns false when <paramref name="spec"/> does not start with
    /// <c>builtin</c> (a file path); throws <see cref="DataException"/> for an unknown builtin name or a bad option.
    /// </summary>
    public static bool TryResolve(string spec, out Dataset? dataset)
    {
        dataset = null;
        if (spec is null) throw new ArgumentNullException(nameof(spec));
        var s = spec.Trim();
        if (!(s.Equals(Prefix, StringComparison.OrdinalIgnoreCase) || s.StartsWith(Prefix + ":", StringComparison.OrdinalIgnoreCase)))
            return false;
        var q = s.IndexOf('?');
        var head = (q < 0 ? s : s[..q]).ToLowerInvariant();
        var name = head == Prefix ? AdaptName : head;
        int? examples = null;
        long seed = DefaultSeed;
        if (q >= 0)
        {
            foreach (var part in s[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = part.Split('=', 2);
                var key = kv[0].Trim().ToLowerInvariant();
                var value = kv.Length == 2 ? kv[1].Trim() : "";
                if (key == "examples" && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0) examples = n;
                else if (key == "seed" && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var sd)) seed = sd;
                else
                    throw new DataException($"builtin dataset '{spec}': option '{part}' is not understood; use ?examples=N (N ≥ 1) and/or &seed=S", spec);
            }
        }
        switch (name)
        {
            case AdaptName:
                if (examples > AdaptationCapacity)
                    throw new DataException($"builtin dataset '{spec}': at most {AdaptationCapacity} examples (distinct dates)", spec);
                dataset = AdaptationTask(examples ?? DefaultAdaptExamples, seed);
                return true;
            case PretrainName:
                dataset = PretrainCorpus(examples ?? DefaultPretrainExamples, seed);
                return true;
            default:
                throw new DataException($"'{spec}' is not a builtin dataset; the builtin datasets are {string.Join(", ", Names)}", spec);
        }
    }
}
