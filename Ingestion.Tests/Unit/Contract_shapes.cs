using System.Reflection;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using System.Xml.Linq;
using Ingestion.Contracts;
using Ingestion.Tests.Infrastructure;
using MassTransit;
using MassTransit.Serialization;

namespace Ingestion.Tests.Unit;

/// <summary>
/// Ingestion.Contracts is the public API of the service for other services: every message's URN, the
/// message types MassTransit puts in its envelope, and its properties' JSON names and types, as
/// MassTransit's System.Text.Json serializer writes them, are pinned in <c>Contracts.snapshot.txt</c>.
/// A change fails here with the difference; a deliberate one is accepted by rewriting the snapshot
/// (<c>make accept-contracts</c>) together with the package's version, as README's version policy says.
/// </summary>
public sealed class Contract_shapes
{
    public const string AcceptVariable = "INGESTION_ACCEPT_CONTRACTS";

    private static readonly Assembly Contracts = typeof(IJobMessage).Assembly;
    private static readonly string SnapshotPath = Path.Combine(Repository.Root, "Ingestion.Tests", "Unit", "Contracts.snapshot.txt");
    private static readonly string ProjectPath = Path.Combine(Repository.Root, "Ingestion.Contracts", "Ingestion.Contracts.csproj");

    [Test]
    public void Should_keep_every_message_as_pinned()
    {
        var actual = Snapshot.Of(Contracts, Version.Parse(ProjectVersion()));
        var pinned = File.Exists(SnapshotPath) ? File.ReadAllText(SnapshotPath) : "";
        if (actual.Text == pinned)
        {
            return;
        }

        var old = Snapshot.Parse(pinned);
        var diff = LineDiff(old.Lines, actual.Lines);
        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            // A change that takes anything away (a removed, renamed or retyped property or message) breaks
            // services built on the last package: it needs a new major version. One that only adds: a minor one.
            var breaking = diff.Any(l => l.StartsWith('-'));
            var needed = breaking ? new Version(old.Version.Major + 1, 0, 0) : new Version(old.Version.Major, old.Version.Minor + 1, 0);
            Assert.That(actual.Version, Is.GreaterThanOrEqualTo(needed), $"""
                The change is {(breaking ? "breaking (something was removed or changed)" : "additive")}: set <VersionPrefix> in
                Ingestion.Contracts/Ingestion.Contracts.csproj to at least {needed} (it is {actual.Version}) before accepting it.
                {string.Join('\n', diff)}
                """);
            File.WriteAllText(SnapshotPath, actual.Text);
            TestContext.Out.WriteLine($"{SnapshotPath} rewritten for Ingestion.Contracts {actual.Version}:\n{string.Join('\n', diff)}");

            // Accepted only once the pinned file on disk is what the code now has.
            Assert.That(File.ReadAllText(SnapshotPath), Is.EqualTo(actual.Text), $"{SnapshotPath} could not be rewritten");
            return;
        }

        Assert.Fail($"""
            The shape of Ingestion.Contracts changed: services that use the package would {(diff.Any(l => l.StartsWith('-')) ? "break" : "see new messages or properties")}.
            ('-' is pinned in Ingestion.Tests/Unit/Contracts.snapshot.txt, '+' is what the code now has)

            {string.Join('\n', diff)}

            If this was not meant: undo the change. A renamed, removed or retyped property or message breaks every
            service built on the last package; add a new message (or a new optional property) instead.
            If it is deliberate: bump <VersionPrefix> in Ingestion.Contracts/Ingestion.Contracts.csproj (major for a
            breaking change, minor for an addition), then accept it with `make accept-contracts` (or
            {AcceptVariable}=1 dotnet test --filter FullyQualifiedName~Contract_shapes) and commit the snapshot.
            """);
    }

    [Test]
    public void Should_document_every_message_and_property()
    {
        var docs = XDocument.Load(Path.ChangeExtension(Contracts.Location, ".xml"));
        var members = docs.Descendants("member").ToDictionary(m => (string)m.Attribute("name")!, m => m);
        var missing = new List<string>();
        foreach (var type in Snapshot.Types(Contracts))
        {
            if (!members.TryGetValue($"T:{type.FullName}", out var typeDoc) || typeDoc.Element("summary") is null)
            {
                missing.Add(type.FullName!);
            }

            // A record's positional property is documented by its <param>; any other by its own <summary>.
            var parameters = typeDoc?.Elements("param").Select(p => (string)p.Attribute("name")!).ToHashSet() ?? [];
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                if (!parameters.Contains(property.Name) && !members.ContainsKey($"P:{type.FullName}.{property.Name}"))
                {
                    missing.Add($"{type.FullName}.{property.Name}");
                }
            }
        }

        Assert.That(missing, Is.Empty, "the package's users read these docs in their IDE: document each (a <param> on a record)");
    }

    private static string ProjectVersion() =>
        XDocument.Load(ProjectPath).Descendants("VersionPrefix").Single().Value;

    /// <summary>Each line marked: '-' only in the pinned snapshot, '+' only in the code, ' ' in both (kept for context).</summary>
    private static List<string> LineDiff(IReadOnlyList<string> pinned, IReadOnlyList<string> actual)
    {
        // Longest common subsequence: snapshots are a few hundred lines.
        var common = new int[pinned.Count + 1, actual.Count + 1];
        for (var i = pinned.Count - 1; i >= 0; i--)
        {
            for (var j = actual.Count - 1; j >= 0; j--)
            {
                common[i, j] = pinned[i] == actual[j] ? common[i + 1, j + 1] + 1 : Math.Max(common[i + 1, j], common[i, j + 1]);
            }
        }

        var diff = new List<(char Mark, string Line)>();
        int a = 0, b = 0;
        while (a < pinned.Count || b < actual.Count)
        {
            if (a < pinned.Count && b < actual.Count && pinned[a] == actual[b])
            {
                diff.Add((' ', pinned[a++]));
                b++;
            }
            else if (b < actual.Count && (a == pinned.Count || common[a, b + 1] >= common[a + 1, b]))
            {
                diff.Add(('+', actual[b++]));
            }
            else
            {
                diff.Add(('-', pinned[a++]));
            }
        }

        // Changed lines with their message's name line above them, nothing else.
        var shown = new List<string>();
        string? heading = null;
        foreach (var (mark, line) in diff)
        {
            if (!line.StartsWith(' '))
            {
                heading = line;
            }

            if (mark != ' ')
            {
                if (heading is not null && heading != line && line.StartsWith(' '))
                {
                    shown.Add($"  {heading}");
                }

                heading = null;
                shown.Add($"{mark} {line}");
            }
        }

        return shown;
    }

    /// <summary>The pinned text: a version line, then per message its URN, envelope types and properties.</summary>
    private sealed record Snapshot(Version Version, IReadOnlyList<string> Lines)
    {
        private const string VersionPrefix = "Ingestion.Contracts ";

        public string Text => $"{VersionPrefix}{Version}\n{string.Join('\n', Lines)}\n";

        public static Snapshot Parse(string text)
        {
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            var version = lines.Count > 0 && lines[0].StartsWith(VersionPrefix, StringComparison.Ordinal)
                ? Version.Parse(lines[0][VersionPrefix.Length..])
                : new Version(0, 0, 0);
            return new Snapshot(version, lines.Skip(1).ToList());
        }

        public static Snapshot Of(Assembly contracts, Version version)
        {
            var options = SystemTextJsonMessageSerializer.Options;
            var nullability = new NullabilityInfoContext();
            var lines = new List<string>();
            foreach (var type in Types(contracts))
            {
                lines.Add(type.FullName!);
                lines.Add($"  urn: {MessageUrn.ForTypeString(type)}");
                lines.Add($"  envelope messageType: {string.Join(", ", MessageTypeCache.GetMessageTypeNames(type))}");

                // Interfaces are written by MassTransit's own converter: their properties, named as its policy names them.
                var properties = type.IsInterface
                    ? type.GetProperties().Select(p => (Name: options.PropertyNamingPolicy?.ConvertName(p.Name) ?? p.Name, Property: p))
                    : options.GetTypeInfo(type).Properties.Select(p => (p.Name, Property: (PropertyInfo)p.AttributeProvider!));
                foreach (var (name, property) in properties)
                {
                    lines.Add($"  {name}: {TypeName(property.PropertyType, nullability.Create(property))}");
                }
            }

            return new Snapshot(version, lines);
        }

        public static IEnumerable<Type> Types(Assembly contracts) =>
            contracts.GetExportedTypes().Where(t => t.IsClass || t.IsInterface).OrderBy(t => t.FullName, StringComparer.Ordinal);

        private static string TypeName(Type type, NullabilityInfo nullability)
        {
            var nullable = nullability.ReadState == NullabilityState.Nullable ? "?" : "";
            if (Nullable.GetUnderlyingType(type) is { } underlying)
            {
                // A Nullable<T> also reads as nullable: one '?' says it.
                return TypeName(underlying, nullability).TrimEnd('?') + "?";
            }

            if (type.IsGenericType)
            {
                var arguments = type.GetGenericArguments().Zip(nullability.GenericTypeArguments, TypeName);
                return $"{type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)]}<{string.Join(", ", arguments)}>{nullable}";
            }

            return Type.GetTypeCode(type) switch
            {
                TypeCode.String => "string",
                TypeCode.Int32 => "int",
                TypeCode.Int64 => "long",
                TypeCode.Boolean => "bool",
                TypeCode.Double => "double",
                TypeCode.Decimal => "decimal",
                _ => type.Name,
            } + nullable;
        }
    }
}
