#!/usr/bin/env python3
"""Block-level scores of `pattern:session` on HDFS (issue 15, part 3).

The data under ../shared/datasets holds event sequences per block, not log lines, so this script
writes HDFS log lines for them: each event id becomes a line of that event's real HDFS shape
(`081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_… terminating`)
with random addresses, sizes and paths, and the block's id. Each block's events come in their
stored order, a few seconds apart, starting at a random time of a two-hour span, so blocks
interleave. That wrapping is synthetic (the raw HDFS log is not retrievable here); the miner, the
session key (`patterns.sessions.key_regex = 'blk_-?\\d+'`), the idle timeout and the invariants
are the detector's own. A block is predicted anomalous when a `pattern:session` anomaly names it.

Usage: scripts/sessions_hdfs.py BINARY [--markdown | --json]
"""
import csv, json, os, random, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "datasets")
BLOCKS = os.path.join(DATA, "hdfs-100k", "hdfs_100k_blocks.csv")
DEEPLOG = os.path.join(DATA, "hdfs-deeplog-sessions")


def ip(r):
    return f"10.25{r.randint(0, 1)}.{r.randint(1, 254)}.{r.randint(1, 254)}"


# Event id (loghub-2k/HDFS/HDFS_templates.csv numbering) -> (level, component, message maker).
def events():
    size = lambda r: r.choice([67108864, 67108864, 67108864, r.randint(1000, 67108864)])
    return {
        1: ("INFO", "dfs.FSDataset", lambda r, b: f"Adding an already existing block {b}"),
        2: ("INFO", "dfs.DataBlockScanner", lambda r, b: f"Verification succeeded for {b}"),
        3: ("INFO", "dfs.DataNode$DataXceiver", lambda r, b: f"{ip(r)}:50010 Served block {b} to /{ip(r)}"),
        4: ("WARN", "dfs.DataNode$DataXceiver", lambda r, b: f"{ip(r)}:50010:Got exception while serving {b} to /{ip(r)}:"),
        5: ("INFO", "dfs.DataNode$DataXceiver", lambda r, b: f"Receiving block {b} src: /{ip(r)}:{r.randint(30000, 60000)} dest: /{ip(r)}:50010"),
        6: ("INFO", "dfs.DataNode$DataXceiver", lambda r, b: f"Received block {b} src: /{ip(r)}:{r.randint(30000, 60000)} dest: /{ip(r)}:50010 of size {size(r)}"),
        7: ("INFO", "dfs.DataNode$DataXceiver", lambda r, b: f"writeBlock {b} received exception java.io.IOException: Could not read from stream"),
        8: ("INFO", "dfs.DataNode$PacketResponder", lambda r, b: f"PacketResponder {r.randint(0, 2)} for block {b} Interrupted."),
        9: ("INFO", "dfs.DataNode$PacketResponder", lambda r, b: f"Received block {b} of size {size(r)} from /{ip(r)}"),
        10: ("INFO", "dfs.DataNode$PacketResponder", lambda r, b: f"PacketResponder {b} {r.randint(0, 2)} Exception java.io.IOException: Broken pipe"),
        11: ("INFO", "dfs.DataNode$PacketResponder", lambda r, b: f"PacketResponder {r.randint(0, 2)} for block {b} terminating"),
        12: ("WARN", "dfs.DataNode$DataXceiver", lambda r, b: f"{ip(r)}:50010:Exception writing block {b} to mirror {ip(r)}:50010"),
        13: ("INFO", "dfs.DataNode$DataXceiver", lambda r, b: f"Receiving empty packet for block {b}"),
        14: ("INFO", "dfs.DataNode$DataXceiver", lambda r, b: f"Exception in receiveBlock for block {b} java.io.IOException: Connection reset by peer"),
        15: ("INFO", "dfs.DataNode$BlockReceiver", lambda r, b: f"Changing block file offset of block {b} from {r.randint(0, 9) * 65536} to {r.randint(10, 99) * 65536} meta file offset to {r.randint(100, 9999)}"),
        16: ("INFO", "dfs.DataNode$DataTransfer", lambda r, b: f"{ip(r)}:50010:Transmitted block {b} to /{ip(r)}:50010"),
        17: ("WARN", "dfs.DataNode", lambda r, b: f"{ip(r)}:50010:Failed to transfer {b} to {ip(r)}:50010 got java.io.IOException: Connection reset by peer"),
        18: ("INFO", "dfs.DataNode", lambda r, b: f"{ip(r)}:50010 Starting thread to transfer block {b} to {ip(r)}:50010"),
        19: ("INFO", "dfs.FSDataset", lambda r, b: f"Reopen Block {b}"),
        20: ("WARN", "dfs.FSDataset", lambda r, b: f"Unexpected error trying to delete block {b}. BlockInfo not found in volumeMap."),
        21: ("INFO", "dfs.FSDataset", lambda r, b: f"Deleting block {b} file /mnt/hadoop/dfs/data/current/subdir{r.randint(0, 63)}/{b}"),
        22: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_task_200811092030_0001_m_{r.randint(0, 999):06d}_0/part-{r.randint(0, 999):05d}. {b}"),
        23: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* NameSystem.delete: {b} is added to invalidSet of {ip(r)}:50010"),
        24: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* Removing block {b} from neededReplications as it does not belong to any file."),
        25: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* ask {ip(r)}:50010 to replicate {b} to datanode(s) {ip(r)}:50010"),
        26: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip(r)}:50010 is added to {b} size {size(r)}"),
        27: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* NameSystem.addStoredBlock: Redundant addStoredBlock request received for {b} on {ip(r)}:50010 size {size(r)}"),
        28: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* NameSystem.addStoredBlock: addStoredBlock request received for {b} on {ip(r)}:50010 size {size(r)} But it does not belong to any file."),
        29: ("INFO", "dfs.FSNamesystem", lambda r, b: f"PendingReplicationMonitor timed out block {b}"),
        30: ("INFO", "dfs.FSNamesystem", lambda r, b: f"BLOCK* ask {ip(r)}:50010 to delete  {b}"),
    }


def write_log(path, sessions, seed):
    """sessions: [(block id, [event ids])]. Lines sorted by time; 081109 203518 is the start."""
    r = random.Random(seed)
    ev = events()
    lines = []
    t0 = 20 * 3600 + 35 * 60 + 18
    for block, seq in sessions:
        t = t0 + r.uniform(0, 7200)
        for k in seq:
            level, comp, make = ev[k]
            lines.append((t, level, comp, make(r, block)))
            t += r.expovariate(1 / 3.0)
    lines.sort(key=lambda x: x[0])
    with open(path, "w") as f:
        for t, level, comp, msg in lines:
            s = int(t)
            day = 9 + s // 86400
            s %= 86400
            f.write(f"08110{day} {s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d} {r.randint(13, 400)} {level} {comp}: {msg}\n")
    return len(lines)


def run(binary, log, train=None):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as c:
        c.write("[patterns.sessions]\nkey_regex = 'blk_-?\\d+'\n")
    cmd = [binary, "scan", "--no-progress", "--output", "jsonl", "-c", c.name, log]
    if train:
        cmd[2:2] = ["--train", train]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(c.name)
    flagged = set()
    for line in out.splitlines():
        a = json.loads(line)
        if "pattern:session" in a.get("detectors", []) and a.get("session"):
            flagged.add(a["session"])
    return flagged


def prf(flagged, labels):
    tp = sum(1 for b, l in labels.items() if l and b in flagged)
    fp = sum(1 for b, l in labels.items() if not l and b in flagged)
    fn = sum(1 for b, l in labels.items() if l and b not in flagged)
    p = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
    return tp, fp, fn, p, rec, f1


def main():
    binary = sys.argv[1]
    md = "--markdown" in sys.argv
    if not os.path.exists(BLOCKS):
        print(f"skipped: {BLOCKS} not found (the licensed HDFS data lives in ../shared/datasets)")
        return
    rows = list(csv.DictReader(open(BLOCKS)))
    seq = lambda row: [int(e[1:]) for e in row["EventSequence"].split()]
    labels = {row["BlockId"]: int(row["Label"]) for row in rows}
    out = []
    with tempfile.TemporaryDirectory() as d:
        every = os.path.join(d, "all.log")
        write_log(every, [(row["BlockId"], seq(row)) for row in rows], 1)
        out.append(("hdfs-100k, all 7,940 blocks, `scan` alone (history with its 313 anomalies)", prf(run(binary, every), labels)))
        train = os.path.join(d, "train.log")
        test = os.path.join(d, "test.log")
        write_log(train, [(row["BlockId"], seq(row)) for row in rows if row["DeepLoglizerSplit"] == "train"], 2)
        write_log(test, [(row["BlockId"], seq(row)) for row in rows if row["DeepLoglizerSplit"] == "test"], 3)
        test_labels = {row["BlockId"]: int(row["Label"]) for row in rows if row["DeepLoglizerSplit"] == "test"}
        out.append(("hdfs-100k, `--train` its train split (6,352 blocks, 256 anomalous), scan the test split (1,588, 57)", prf(run(binary, test, train), test_labels)))
        dl_train = [[int(x) for x in l.split()] for l in open(os.path.join(DEEPLOG, "hdfs_train")) if l.strip()]
        dl_ab = [[int(x) for x in l.split()] for l in open(os.path.join(DEEPLOG, "hdfs_test_abnormal")) if l.strip()]
        r = random.Random(4)
        ids = lambda n, tag: [f"blk_{tag}{r.randrange(10**17, 10**18)}" for _ in range(n)]
        tr_ids, ab_ids = ids(len(dl_train), "1"), ids(len(dl_ab), "-")
        write_log(train, list(zip(tr_ids, dl_train)), 5)
        write_log(test, list(zip(ab_ids, dl_ab)), 6)
        flagged = run(binary, test, train)
        rec = sum(1 for b in ab_ids if b in flagged) / len(ab_ids)
        out.append(("DeepLog's sessions: `--train` hdfs_train (4,855 normal), scan hdfs_test_abnormal (16,838 anomalous)", ("recall", rec)))
        # The normal side DeepLog's files lack: hdfs-100k's normal blocks, after the same training.
        normal = [(row["BlockId"], seq(row)) for row in rows if row["Label"] == "0"]
        write_log(test, normal, 7)
        flagged = run(binary, test, train)
        out.append(("the same training, scan hdfs-100k's 7,627 normal blocks", ("flagged", sum(1 for b, _ in normal if b in flagged) / len(normal))))
    if "--json" in sys.argv:
        print(json.dumps([{"case": name, "scores": list(sc)} for name, sc in out]))
        return
    if md:
        print("| case | TP | FP | FN | precision | recall | F1 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s in out:
        if s[0] == "recall":
            print(f"| {name} | | | | | {s[1]:.3f} | |" if md else f"{name}: recall {s[1]:.3f}")
        elif s[0] == "flagged":
            print(f"| {name} | | {100 * s[1]:.2f} % flagged | | | | |" if md else f"{name}: {100 * s[1]:.2f} % flagged")
        else:
            tp, fp, fn, p, rec, f1 = s
            print(f"| {name} | {tp} | {fp} | {fn} | {p:.3f} | {rec:.3f} | {f1:.3f} |" if md else f"{name}: TP {tp} FP {fp} FN {fn} P {p:.3f} R {rec:.3f} F1 {f1:.3f}")


if __name__ == "__main__":
    main()
