package weir.services;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * Runs Hadoop's MiniDFSCluster (one NameNode, one DataNode) on loopback until
 * killed. Usage: MiniHdfs DATA_DIR NAMENODE_PORT NAMENODE_HTTP_PORT READY_FILE
 * Writes READY_FILE (containing the NameNode URI) once the cluster is active.
 *
 * <p>Tests restart the NameNode through READY_FILE.control: a file holding
 * "namenode-stop" or "namenode-start" (written under another name and
 * renamed into place) is carried out and removed, and READY_FILE.control.done
 * then holds "ok COMMAND" or "error COMMAND: WHY". The NameNode comes back
 * from its own fsimage and edit log, with the same ports; the DataNode and
 * its blocks stay up throughout (a restart of the whole process would
 * format a new file system).
 */
public final class MiniHdfs {
  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: MiniHdfs DATA_DIR NAMENODE_PORT NAMENODE_HTTP_PORT READY_FILE");
      System.exit(2);
    }
    File dir = new File(args[0]);
    int port = Integer.parseInt(args[1]);
    int httpPort = Integer.parseInt(args[2]);
    Path ready = Path.of(args[3]);
    Files.deleteIfExists(ready);

    Configuration conf = new Configuration();
    conf.set("dfs.permissions.enabled", "false");
    conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
    conf.set("dfs.namenode.http-bind-host", "127.0.0.1");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    conf.setInt("dfs.replication", 1);
    conf.setInt("dfs.namenode.safemode.extension.testing", 0);

    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, dir)
        .nameNodePort(port)
        .nameNodeHttpPort(httpPort)
        .numDataNodes(1)
        .format(true)
        .build();
    cluster.waitActive();
    cluster.waitClusterUp();

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        Files.deleteIfExists(ready);
      } catch (Exception ignored) {
      }
      cluster.shutdown();
    }));

    Path control = Path.of(args[3] + ".control");
    Path done = Path.of(args[3] + ".control.done");
    Files.deleteIfExists(control);
    Thread controller = new Thread(() -> control(cluster, control, done), "weir-namenode-control");
    controller.setDaemon(true);
    controller.start();

    String uri = "hdfs://127.0.0.1:" + cluster.getNameNodePort();
    Files.writeString(ready, uri + "\n", StandardCharsets.UTF_8);
    System.out.println("MiniDFSCluster ready at " + uri);
    Thread.currentThread().join();
  }

  private static void control(MiniDFSCluster cluster, Path control, Path done) {
    while (true) {
      try {
        Thread.sleep(50);
        if (!Files.exists(control)) {
          continue;
        }
        String cmd = Files.readString(control, StandardCharsets.UTF_8).trim();
        Files.delete(control);
        String result;
        try {
          switch (cmd) {
            case "namenode-stop":
              cluster.shutdownNameNode(0);
              break;
            case "namenode-start":
              cluster.restartNameNode(0, true);
              break;
            default:
              throw new IllegalArgumentException("unknown command (namenode-stop, namenode-start)");
          }
          result = "ok " + cmd;
        } catch (Exception e) {
          result = "error " + cmd + ": " + e;
        }
        System.out.println("MiniDFSCluster control: " + result);
        Path tmp = Path.of(done + ".tmp");
        Files.writeString(tmp, result + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, done, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      } catch (InterruptedException e) {
        return;
      } catch (Exception e) {
        System.err.println("MiniDFSCluster control: " + e);
      }
    }
  }
}
